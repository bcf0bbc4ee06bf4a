"""The twin and the parameters file against Azure's published ARM schemas (offline copy)."""

import pytest


def test_template_top_level_matches_the_deployment_template_schema(schemas, twin):
    assert schemas.template_errors(twin) == []


@pytest.mark.parametrize(
    "resource_type",
    [
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/fileServices",
        "Microsoft.Storage/storageAccounts/fileServices/shares",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.App/managedEnvironments",
        "Microsoft.App/managedEnvironments/storages",
        "Microsoft.App/containerApps",
    ],
)
def test_each_resource_matches_its_provider_schema_at_its_api_version(
    schemas, resources_by_type, resource_type
):
    assert schemas.resource_errors(resources_by_type[resource_type]) == []


def test_template_declares_exactly_the_resources_checked_above(twin):
    assert len(twin["resources"]) == 7


def test_parameters_file_matches_the_deployment_parameters_schema(schemas, parameters_file):
    assert schemas.parameters_file_errors(parameters_file) == []


def _rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


APP, STORAGE = "Microsoft.App/containerApps", "Microsoft.Storage/storageAccounts"
ENV_STORAGE = "Microsoft.App/managedEnvironments/storages"


@pytest.mark.parametrize(
    ("resource_type", "path", "old", "new"),
    [
        (APP, ("properties", "configuration", "ingress"), "allowInsecure", "allowInsecur"),
        (APP, ("properties", "template", "scale"), "maxReplicas", "maxReplica"),
        (STORAGE, ("properties",), "largeFileSharesState", "largeFileShareState"),
        (ENV_STORAGE, ("properties", "azureFile"), "accessMode", "accesMode"),
        ("Microsoft.OperationalInsights/workspaces", ("properties",), "sku", "skus"),
    ],
)
def test_a_misspelt_resource_property_fails_the_schema_check(
    schemas, resources_by_type, resource_type, path, old, new
):
    resource = resources_by_type[resource_type]
    parent = resource
    for key in path:
        parent = parent[key]
    _rename(parent, old, new)
    errors = schemas.resource_errors(resource)
    assert errors and all(f"'{new}' was unexpected" in e for e in errors), errors


def test_a_misspelt_container_property_fails_the_schema_check(schemas, resources_by_type):
    app = resources_by_type["Microsoft.App/containerApps"]
    _rename(app["properties"]["template"]["containers"][0], "volumeMounts", "volumeMount")
    errors = schemas.resource_errors(app)
    assert errors and all("'volumeMount' was unexpected" in e for e in errors), errors


def test_a_wrong_enum_value_fails_the_schema_check(schemas, resources_by_type):
    storage = resources_by_type["Microsoft.Storage/storageAccounts"]
    storage["sku"]["name"] = "Standard_LRS2"
    assert any("'Standard_LRS2' is not one of" in e for e in schemas.resource_errors(storage))


def test_a_misspelt_template_section_fails_the_schema_check(schemas, twin):
    _rename(twin, "outputs", "output")
    assert any("'output' was unexpected" in e for e in schemas.template_errors(twin))


def test_a_misspelt_parameter_value_key_fails_the_schema_check(schemas, parameters_file):
    _rename(parameters_file["parameters"]["maximumInstanceCount"], "value", "vaule")
    assert any("'vaule' was unexpected" in e for e in schemas.parameters_file_errors(parameters_file))


def test_an_api_version_without_a_published_schema_is_refused(schemas, resources_by_type):
    app = resources_by_type["Microsoft.App/containerApps"]
    app["apiVersion"] = "2023-11-02-preview"
    with pytest.raises(LookupError, match="no schema for Microsoft.App at API version 2023-11-02-preview"):
        schemas.resource_errors(app)
