"""inference.parameters.json: the defaults a user starts from."""

NAME_PARAMETERS = (
    "location", "storageAccountName", "fileShareName", "acaEnvironmentName", "acaEnvironmentStorageName",
    "acaAppName", "acaLogAnalyticsName",
)


def test_every_value_in_the_file_is_a_template_parameter(parameters_file, twin):
    assert set(parameters_file["parameters"]) <= set(twin["parameters"])


def test_file_gives_every_parameter_the_template_requires(parameters_file, twin):
    required = {name for name, p in twin["parameters"].items() if "defaultValue" not in p}
    assert required <= set(parameters_file["parameters"])


def test_names_and_location_are_left_out_so_the_template_defaults_apply(parameters_file):
    assert not set(NAME_PARAMETERS) & set(parameters_file["parameters"])


def test_no_value_is_null_because_arm_refuses_nulls(parameters_file):
    assert [name for name, entry in parameters_file["parameters"].items() if entry["value"] is None] == []


def test_file_values_match_the_template_defaults(parameters_file, twin):
    for name, entry in parameters_file["parameters"].items():
        if "defaultValue" in twin["parameters"][name]:
            assert entry["value"] == twin["parameters"][name]["defaultValue"], name


def test_file_holds_no_api_key(parameters_file):
    assert "apiKey" not in parameters_file["parameters"]
