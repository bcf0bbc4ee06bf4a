"""ARM through the real SDKs: error shapes, fault injection the SDK retries through, stats, auth, no leaks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

from localcloud.testing import unique
from localcloud.tests.replicas import app_body


@pytest.fixture
def faults(cloud):
    yield lambda body: cloud.control("POST", "faults", body).raise_for_status()
    cloud.control("POST", "faults", None).raise_for_status()


@pytest.fixture(scope="module")
def resources(cloud):
    return cloud.client(ResourceManagementClient)


def test_missing_resource_is_a_404_resource_not_found(cloud, environment):
    with pytest.raises(ResourceNotFoundError) as caught:
        cloud.client(StorageManagementClient).storage_accounts.get_properties(environment.resource_group, "nosuch1")
    assert caught.value.error.code == "ResourceNotFound"


def test_storage_account_name_taken_elsewhere_is_a_409(cloud, resources, environment):
    other = unique("rg-other-")
    resources.resource_groups.create_or_update(other, {"location": "eastus"})
    with pytest.raises(HttpResponseError) as caught:
        cloud.client(StorageManagementClient).storage_accounts.begin_create(
            other,
            environment.account,
            {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        )
    assert (caught.value.status_code, caught.value.error.code) == (409, "StorageAccountAlreadyTaken")


def test_unknown_resource_type_is_no_registered_provider(cloud, resources, environment):
    resource_id = (
        f"/subscriptions/{cloud.subscription_id}/resourceGroups/{environment.resource_group}"
        "/providers/Microsoft.Nope/widgets/w1"
    )
    with pytest.raises(HttpResponseError) as caught:
        resources.resources.get_by_id(resource_id, "2024-01-01")
    assert (caught.value.status_code, caught.value.error.code) == (400, "NoRegisteredProviderFound")


def test_arm_refuses_requests_without_a_valid_token(cloud):
    reply = requests.get(
        f"{cloud.url}/subscriptions?api-version=2022-12-01",
        verify=cloud.ca,
        proxies={},
        headers={"Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "AuthenticationFailed"


@pytest.mark.parametrize("response", [429, 503, "cut"])
def test_sdk_retries_through_injected_transport_faults(cloud, resources, environment, faults, response):
    cloud.control("DELETE", "stats")
    faults({"faults": [{"kind": "arm:GET resourceGroups", "response": response, "retryAfter": 1, "count": 1}]})
    assert resources.resource_groups.get(environment.resource_group).name == environment.resource_group
    assert cloud.control("GET", "stats").json()["operations"]["arm:GET resourceGroups"]["count"] == 2


def test_injected_quota_error_fails_the_container_app_put(cloud, environment, faults):
    message = "Operation results in exceeding quota limits of Consumption-GPU-NC8as-T4."
    faults(
        {
            "armErrors": [
                {
                    "method": "PUT",
                    "resourceType": "Microsoft.App/containerApps",
                    "status": 400,
                    "code": "MaxRegionalQuotaExceeded",
                    "message": message,
                }
            ]
        }
    )
    apps = cloud.client(ContainerAppsAPIClient)
    with pytest.raises(HttpResponseError) as caught:
        apps.container_apps.begin_create_or_update(environment.resource_group, unique("gpu-"), app_body(environment))
    assert (caught.value.error.code, caught.value.error.message) == ("MaxRegionalQuotaExceeded", message)


def test_fault_configuration_errors_name_the_field(cloud):
    reply = cloud.control("POST", "faults", {"faults": [{"kind": "arm", "response": 418}]})
    assert reply.status_code == 400 and "faults[0].response" in reply.json()["error"]["message"]


def test_stats_count_requests_and_bytes_per_operation(cloud, resources, environment):
    cloud.control("DELETE", "stats")
    resources.resource_groups.get(environment.resource_group)
    stats = cloud.control("GET", "stats").json()
    entry = stats["operations"]["arm:GET resourceGroups"]
    assert entry["count"] == 1 and entry["bytesOut"] > 0 and stats["requests"] >= 1


def test_guard_makes_requests_to_other_addresses_fail_instead_of_leaving(cloud):
    probe = (
        "import requests\n"
        "try:\n    requests.get('https://10.255.255.1/', timeout=5)\n"
        "except requests.exceptions.ProxyError:\n    print('blocked by the guard proxy')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=cloud.env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "blocked by the guard proxy"


def test_location_change_of_an_existing_resource_is_refused(cloud, environment):
    storage = cloud.client(StorageManagementClient)
    with pytest.raises(HttpResponseError) as caught:
        storage.storage_accounts.begin_create(
            environment.resource_group,
            environment.account,
            {"location": "westus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        ).result()
    assert (caught.value.status_code, caught.value.error.code) == (400, "InvalidResourceLocation")
    assert caught.value.error.message == (
        f"The resource '{environment.account}' already exists in location 'eastus' in resource group "
        f"'{environment.resource_group}'. A resource with the same name cannot be created in location 'westus'. "
        "Please select a new resource name."
    )
