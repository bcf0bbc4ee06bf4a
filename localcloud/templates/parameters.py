"""Template parameters: binding the deployment's values, and ARM's checks on each value."""

from __future__ import annotations

from typing import Any

from localcloud.arm.exceptions import ArmError

from .values import compact_json, equal, lookup, type_name

# Declared parameter type (lower case) -> the ARM type a value must have, and its wire name.
PARAMETER_TYPES = {
    "string": ("String", "String"),
    "securestring": ("String", "SecureString"),
    "int": ("Integer", "Int"),
    "bool": ("Boolean", "Bool"),
    "object": ("Object", "Object"),
    "secureobject": ("Object", "SecureObject"),
    "array": ("Array", "Array"),
}
SECURE_TYPES = ("securestring", "secureobject")


def invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidTemplate", f"Deployment template validation failed: '{message}'")


def declared_type(declaration: dict) -> str:
    return str(declaration.get("type", "")).lower()


def is_secure(declaration: dict) -> bool:
    return declared_type(declaration) in SECURE_TYPES


def missing(name: str) -> ArmError:
    return invalid(f"The value for the template parameter '{name}' is not provided. Give it in the "
                   "deployment's parameters or declare a 'defaultValue'.")


def bind(declared: dict, given: dict | None) -> dict[str, Any]:
    """ARM parameter shape ``{name: {"value": v}}`` -> ``{declared name: v}``."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise invalid("The deployment parameters must be an object of the form {name: {\"value\": ...}}.")
    values: dict[str, Any] = {}
    unknown = []
    for name, entry in given.items():
        try:
            declared_name, _ = lookup(declared, name)
        except KeyError:
            unknown.append(name)
            continue
        if isinstance(entry, dict) and "reference" in entry:
            raise invalid(f"The template parameter '{name}' is a Key Vault reference; localcloud does "
                          "not resolve Key Vault references. Pass the value itself as {\"value\": ...}.")
        if not isinstance(entry, dict) or "value" not in entry:
            raise invalid(f"The template parameter '{name}' must be given as {{\"value\": ...}}.")
        # ARM treats an explicit null like a missing value: the defaultValue applies.
        if entry["value"] is not None:
            values[declared_name] = entry["value"]
    if unknown:
        raise invalid(
            f"The template parameters '{', '.join(unknown)}' in the parameters file are not valid; they "
            "are not present in the original template and can therefore not be provided at deployment "
            f"time. The only supported parameters for this template are '{', '.join(declared)}'.")
    return values


def check_declaration(name: str, declaration: Any) -> None:
    if not isinstance(declaration, dict) or declared_type(declaration) not in PARAMETER_TYPES:
        raise invalid(f"The template parameter '{name}' must declare a 'type', one of "
                      f"'{', '.join(t for t in PARAMETER_TYPES)}'.")


def check(name: str, declaration: dict, value: Any) -> None:
    """ARM's checks of a parameter value: type, allowedValues, min/max value and length."""
    expected, wire = PARAMETER_TYPES[declared_type(declaration)]
    secure = is_secure(declaration)
    shown = "" if secure else f" '{value if isinstance(value, str) else compact_json(value)}'"
    prefix = f"The provided value{shown} for the template parameter '{name}' is not valid."
    if type_name(value) != expected:
        raise invalid(f"{prefix} Expected a value of type '{wire}', but received a value of type "
                      f"'{type_name(value)}'.")
    allowed = declaration.get("allowedValues")
    if isinstance(allowed, list):
        candidates = value if expected == "Array" else [value]
        if not all(any(equal(c, a) for a in allowed) for c in candidates):
            listed = "" if secure else f" {compact_json(allowed)}"
            raise invalid(f"{prefix} The value must be one of the allowed values{listed}.")
    if expected == "Integer":
        if "minValue" in declaration and value < declaration["minValue"]:
            raise invalid(f"{prefix} The value must be at least {declaration['minValue']}.")
        if "maxValue" in declaration and value > declaration["maxValue"]:
            raise invalid(f"{prefix} The value must be at most {declaration['maxValue']}.")
    if expected in ("String", "Array"):
        if "minLength" in declaration and len(value) < declaration["minLength"]:
            raise invalid(f"{prefix} Its length must be at least {declaration['minLength']}.")
        if "maxLength" in declaration and len(value) > declaration["maxLength"]:
            raise invalid(f"{prefix} Its length must be at most {declaration['maxLength']}.")
