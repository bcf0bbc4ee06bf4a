"""inference.json must stay the compiled form of inference.bicep."""

import hashlib

import pytest
from bicep_reader import read_bicep
from twin_sync import twin_differences


def test_twin_records_the_sha256_of_the_bicep_it_was_written_from(bicep_text, twin):
    actual = hashlib.sha256(bicep_text.encode("utf-8")).hexdigest()
    recorded = twin["metadata"]["bicepSha256"]
    assert recorded == actual, (
        f"infra/provision/inference.bicep changed (sha256 {actual}) but inference.json was written for "
        f"{recorded}: update inference.json to match, then set its metadata.bicepSha256"
    )


def test_twin_declares_the_same_parameters_resources_and_outputs_as_the_bicep(bicep, twin):
    assert twin_differences(bicep, twin) == []


def test_reader_finds_every_declaration_of_the_bicep(bicep):
    assert (len(bicep.params), len(bicep.resources), len(bicep.outputs)) == (20, 7, 9)


def _by_type(twin: dict, resource_type: str) -> dict:
    return next(r for r in twin["resources"] if r["type"] == resource_type)


def _retype_parameter(twin):
    twin["parameters"]["maximumInstanceCount"]["type"] = "string"


def _change_default(twin):
    twin["parameters"]["minReplicas"]["defaultValue"] = 0


def _drop_parameter(twin):
    del twin["parameters"]["tags"]


def _change_api_version(twin):
    _by_type(twin, "Microsoft.App/containerApps")["apiVersion"] = "2024-03-01"


def _rename_share(twin):
    share = _by_type(twin, "Microsoft.Storage/storageAccounts/fileServices/shares")
    share["name"] = share["name"].replace("fileShare", "app")


def _drop_output(twin):
    del twin["outputs"]["ADAPTER_PATH"]


@pytest.mark.parametrize(
    ("mutate", "reported"),
    [
        (_retype_parameter, "parameter maximumInstanceCount"),
        (_change_default, "parameter minReplicas"),
        (_drop_parameter, "parameter tags"),
        (_change_api_version, "Microsoft.App/containerApps"),
        (_rename_share, "Microsoft.Storage/storageAccounts/fileServices/shares"),
        (_drop_output, "output ADAPTER_PATH"),
    ],
)
def test_a_twin_that_drifted_from_the_bicep_is_reported(bicep, twin, mutate, reported):
    mutate(twin)
    differences = twin_differences(bicep, twin)
    assert differences and all(reported in line for line in differences), differences


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        ("workspaces@2025-07-01'", "workspaces@2023-09-01'", "Microsoft.OperationalInsights/workspaces"),
        ("param minReplicas int = 1", "param minReplicas int = 0", "parameter minReplicas"),
        ("output ADAPTER_PATH string", "output ADAPTER_DIR string", "ADAPTER_"),
        ("  name: names.fileShare", "  name: names.app", "fileServices/shares"),
    ],
)
def test_a_bicep_that_moved_on_without_its_twin_is_reported(bicep_text, twin, old, new, reported):
    assert old in bicep_text
    differences = twin_differences(read_bicep(bicep_text.replace(old, new)), twin)
    assert differences and all(reported in line for line in differences), differences
