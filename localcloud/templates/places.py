"""Where in a template an expression sits; it decides which functions the expression may call."""

PARAMETERS = "parameters"  # a parameter's defaultValue: no variables(), no reference()
VARIABLES = "variables"  # variables, names, conditions, counts, dependsOn: no reference()
RESOURCE = "resource"  # a resource's body, evaluated just before its PUT
OUTPUTS = "outputs"
RUNTIME_PLACES = (RESOURCE, OUTPUTS)
