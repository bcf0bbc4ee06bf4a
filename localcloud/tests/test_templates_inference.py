"""The project's own ARM template (infra/provision/inference.json) through the template engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud.arm.exceptions import ArmError
from localcloud.templates import run_deployment, validate_template
from localcloud.templates.hashing import unique_string
from localcloud.tests.templates_fakes import RG_ID, SCOPE, MemoryProvider, rid

PROVISION = Path(__file__).resolve().parents[2] / "infra" / "provision"
HIDDEN_API_KEY_VALUE = "api-key-that-must-stay-hidden"


def load(name: str) -> dict:
    return json.loads((PROVISION / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inference_template() -> dict:
    return load("inference.json")


@pytest.fixture(scope="module")
def shipped_parameters() -> dict:
    return load("inference.parameters.json")["parameters"]


def test_shipped_parameters_validate(inference_template, shipped_parameters):
    validate_template(inference_template, shipped_parameters, SCOPE)


def test_deploys_every_resource_after_its_dependencies(inference_template, shipped_parameters):
    provider = MemoryProvider()
    outputs = run_deployment(inference_template, shipped_parameters, SCOPE, provider)
    assert len(provider.puts) == len(inference_template["resources"])
    suffix = unique_string(RG_ID)[:5]
    assert outputs["STORAGE_ACCOUNT_NAME"]["value"] == f"aistorage{suffix}"
    assert outputs["RESOURCE_GROUP_NAME"]["value"] == SCOPE.resource_group
    assert outputs["ACA_APP_ENDPOINT"]["value"] == f"aiacaapp{suffix}.apps.localtest"
    assert all(o["type"] == "String" for o in outputs.values())
    position = {resource_id.lower(): n for n, resource_id in enumerate(provider.puts)}
    app = rid("Microsoft.App/containerApps", f"aiacaapp{suffix}").lower()
    environment = rid("Microsoft.App/managedEnvironments", f"aienv{suffix}").lower()
    share = rid("Microsoft.Storage/storageAccounts/fileServices/shares", f"aistorage{suffix}", "default",
                f"aifileshare{suffix}").lower()
    assert position[environment] < position[app] and position[share] < position[app]


def test_keys_flow_from_list_keys_into_the_environment(inference_template, shipped_parameters):
    provider = MemoryProvider()
    run_deployment(inference_template, shipped_parameters, SCOPE, provider)
    bodies = {resource_id.lower(): body for resource_id, body in provider.bodies.items()}
    suffix = unique_string(RG_ID)[:5]
    storage = bodies[rid("Microsoft.App/managedEnvironments/storages", f"aienv{suffix}",
                         f"aienvstorage{suffix}").lower()]
    assert storage["properties"]["azureFile"]["accountKey"] == f"key1-aistorage{suffix}"
    environment = bodies[rid("Microsoft.App/managedEnvironments", f"aienv{suffix}").lower()]
    logs = environment["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]
    assert logs == {"customerId": f"customer-ailog{suffix}", "sharedKey": f"shared-ailog{suffix}"}


def test_given_names_are_reused_and_an_api_key_stays_out_of_errors(inference_template, shipped_parameters):
    parameters = {**shipped_parameters, "storageAccountName": {"value": "existingstore"},
                  "apiKey": {"value": HIDDEN_API_KEY_VALUE}, "minReplicas": {"value": -1}}
    with pytest.raises(ArmError) as caught:
        validate_template(inference_template, parameters, SCOPE)
    assert "minReplicas" in caught.value.message and HIDDEN_API_KEY_VALUE not in str(caught.value)

    parameters["minReplicas"] = {"value": 0}
    provider = MemoryProvider()
    outputs = run_deployment(inference_template, parameters, SCOPE, provider)
    assert outputs["STORAGE_ACCOUNT_NAME"]["value"] == "existingstore"
    assert rid("Microsoft.Storage/storageAccounts", "existingstore") in provider.puts
