"""Azure Files with shared keys off: key-signed calls are refused, Entra tokens need the backup intent
and a file data role (role assignments made the way `az role assignment create` makes them), and a
container's share mount keeps working."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters
from azure.storage.fileshare import ShareClient

from localcloud.testing import LocalCloudCredential, unique
from localcloud.tests.replicas import app_body, create_app, wait_ready

PRIVILEGED_CONTRIBUTOR = "Storage File Data Privileged Contributor"


@pytest.fixture(scope="module")
def keyless(cloud):
    """A storage account created with allowSharedKeyAccess false, and a share in it."""
    group, account, share = unique("rg-keyless-"), unique("nokey"), "data"
    cloud.client(ResourceManagementClient).resource_groups.create_or_update(group, {"location": "eastus"})
    storage = cloud.client(StorageManagementClient)
    created = storage.storage_accounts.begin_create(
        group,
        account,
        StorageAccountCreateParameters(
            location="eastus", kind="StorageV2", sku=Sku(name="Standard_LRS"), allow_shared_key_access=False
        ),
    ).result()
    storage.file_shares.create(group, account, share, {})
    return {"group": group, "account": account, "share": share, "id": created.id, "storage": storage}


def _share(cloud, keyless, credential, **kwargs) -> ShareClient:
    return ShareClient(
        f"{cloud.url}/{keyless['account']}/", keyless["share"], credential=credential, connection_verify=cloud.ca,
        **kwargs,
    )


def _refusal(call) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as caught:
        call()
    return caught.value.status_code, caught.value.error_code


def test_shared_key_is_refused_when_the_account_disables_it(cloud, keyless):
    keys = keyless["storage"].storage_accounts.list_keys(keyless["group"], keyless["account"]).as_dict()["keys"]
    key = keys[0]["value"]  # listKeys still answers: the keys exist, their use is refused
    share = _share(cloud, keyless, {"account_name": keyless["account"], "account_key": key})
    assert _refusal(lambda: share.create_directory("keyed")) == (403, "KeyBasedAuthenticationNotPermitted")


def test_token_with_backup_intent_is_accepted_with_the_role_and_refused_without(cloud, keyless):
    token = LocalCloudCredential(cloud.env)
    with_intent = _share(cloud, keyless, token, token_intent="backup")  # noqa: S106 - an intent, not a secret
    assert _refusal(lambda: with_intent.create_directory("before")) == (403, "AuthorizationPermissionMismatch")
    assignment = cloud.az_json(
        "role", "assignment", "create", "--assignee-object-id", cloud.env["LOCALCLOUD_PRINCIPAL_ID"],
        "--assignee-principal-type", "ServicePrincipal", "--role", PRIVILEGED_CONTRIBUTOR, "--scope", keyless["id"],
    )
    assert assignment["roleDefinitionId"].endswith("/69566ab7-960f-475b-8e7c-b3118f30c6bd")
    with_intent.create_directory("after")
    with_intent.get_directory_client("after").upload_file("hello.txt", b"hi")
    assert with_intent.get_file_client("after/hello.txt").download_file().readall() == b"hi"
    # The intent stays required, role or not (the SDK always sends it, so this call is by hand).
    bearer = token.get_token("https://storage.azure.com/.default").token
    reply = requests.get(
        f"{cloud.url}/{keyless['account']}/{keyless['share']}/after?restype=directory",
        headers={"Authorization": f"Bearer {bearer}", "x-ms-version": "2025-05-05"},
        verify=cloud.ca,
        proxies={},
        timeout=10,
    )
    assert (reply.status_code, reply.headers["x-ms-error-code"]) == (403, "AuthorizationFailure")
    # `az role assignment list` needs Microsoft Graph, which localcloud has not: list through ARM.
    url = f"{keyless['id']}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
    listed = cloud.az_json("rest", "--method", "get", "--url", url)["value"]
    assert [a["id"] for a in listed] == [assignment["id"]]


def test_share_mount_keeps_working_when_shared_keys_are_off(cloud, environment, keyless):
    apps = cloud.client(ContainerAppsAPIClient)
    key = keyless["storage"].storage_accounts.list_keys(keyless["group"], keyless["account"]).as_dict()["keys"]
    apps.managed_environments_storages.create_or_update(
        environment.resource_group,
        "env",
        "keyless",
        {"properties": {"azure_file": {"account_name": keyless["account"], "account_key": key[0]["value"],
                                       "share_name": keyless["share"], "access_mode": "ReadWrite"}}},
    )
    body = app_body(environment, env_vars=[{"name": "DATA_DIR", "value": "/mount"}])
    body["template"]["volumes"][0]["storage_name"] = "keyless"
    container = body["template"]["containers"][0]
    container["args"] = ["open('/mount/hello.txt', 'w').write('through the mount')\n" + container["args"][0]]
    app = create_app(apps, environment, unique("smb-"), body)
    wait_ready(cloud, app.configuration.ingress.fqdn)
    assert cloud.https_get(f"https://{app.configuration.ingress.fqdn}/file").text == "through the mount"
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()
