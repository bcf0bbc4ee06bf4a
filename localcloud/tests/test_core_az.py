"""The real, unmodified az against the local cloud: groups, deployments, storage, container apps."""

from __future__ import annotations

import json

import pytest
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from localcloud.testing import unique, wait_until
from localcloud.tests.replicas import create_app, replica_of, wait_ready

STORAGE_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "accountName": {"type": "string"},
        "shareName": {"type": "string", "defaultValue": "models"},
    },
    "resources": [
        {
            "type": "Microsoft.Storage/storageAccounts",
            "apiVersion": "2025-01-01",
            "name": "[parameters('accountName')]",
            "location": "[resourceGroup().location]",
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
        },
        {
            "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
            "apiVersion": "2025-01-01",
            "name": "[format('{0}/default/{1}', parameters('accountName'), parameters('shareName'))]",
            "dependsOn": ["[resourceId('Microsoft.Storage/storageAccounts', parameters('accountName'))]"],
            "properties": {"shareQuota": 100},
        },
    ],
    "outputs": {
        "fileEndpoint": {
            "type": "string",
            "value": "[reference(resourceId('Microsoft.Storage/storageAccounts', "
            "parameters('accountName')), '2025-01-01').primaryEndpoints.file]",
        },
        "shareName": {"type": "string", "value": "[parameters('shareName')]"},
    },
}


@pytest.fixture(scope="module")
def group(cloud):
    name = unique("rg-az-")
    created = cloud.az_json("group", "create", "-n", name, "-l", "eastus")
    assert created["properties"]["provisioningState"] == "Succeeded"
    return name


@pytest.fixture(scope="module")
def deployed(cloud, group, tmp_path_factory):
    template = tmp_path_factory.mktemp("arm") / "storage.json"
    template.write_text(json.dumps(STORAGE_TEMPLATE))
    account = unique("az")
    result = cloud.az_json(
        "deployment",
        "group",
        "create",
        "-g",
        group,
        "--template-file",
        str(template),
        "--parameters",
        f"accountName={account}",
    )
    return account, result


def file_args(cloud, account: str, key: str) -> list[str]:
    return ["--account-name", account, "--account-key", key, "--file-endpoint", f"{cloud.url}/{account}/"]


def test_group_show_and_missing_group_error(cloud, group):
    assert cloud.az_json("group", "show", "-n", group)["name"] == group
    missing = cloud.az("group", "show", "-n", "no-such-group", check=False)
    assert missing.returncode != 0
    assert "ResourceGroupNotFound" in missing.stderr and "no-such-group" in missing.stderr


def test_deployment_group_create_returns_outputs(cloud, deployed):
    account, result = deployed
    assert result["properties"]["provisioningState"] == "Succeeded"
    outputs = result["properties"]["outputs"]
    assert outputs["fileEndpoint"]["value"] == f"{cloud.url}/{account}/"
    assert outputs["shareName"] == {"type": "String", "value": "models"}


def test_invalid_template_is_refused_naming_the_expression(cloud, group, tmp_path):
    broken = dict(STORAGE_TEMPLATE, outputs={"bad": {"type": "string", "value": "[noSuchFunction('x')]"}})
    template = tmp_path / "broken.json"
    template.write_text(json.dumps(broken))
    result = cloud.az(
        "deployment",
        "group",
        "create",
        "-g",
        group,
        "--template-file",
        str(template),
        "--parameters",
        "accountName=whatever1",
        check=False,
    )
    assert result.returncode != 0
    assert "InvalidTemplate" in result.stderr and "noSuchFunction" in result.stderr


def test_storage_keys_list_and_file_commands_round_trip(cloud, group, deployed, tmp_path):
    account, _ = deployed
    keys = cloud.az_json("storage", "account", "keys", "list", "-g", group, "-n", account)
    assert [k["keyName"] for k in keys] == ["key1", "key2"]
    args = file_args(cloud, account, keys[0]["value"])
    assert [s["name"] for s in cloud.az_json("storage", "share", "list", *args)] == ["models"]
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.txt").write_text("beta")
    cloud.az(
        "storage",
        "file",
        "upload-batch",
        *args,
        "--destination",
        "models",
        "--source",
        str(source),
        "-o",
        "none",
    )
    cloud.az(
        "storage",
        "file",
        "upload",
        *args,
        "-s",
        "models",
        "--source",
        str(source / "a.txt"),
        "--path",
        "single.txt",
        "-o",
        "none",
    )
    listed = {e["name"] for e in cloud.az_json("storage", "file", "list", *args, "-s", "models")}
    assert listed == {"a.txt", "sub", "single.txt"}
    cloud.az(
        "storage",
        "file",
        "download",
        *args,
        "-s",
        "models",
        "-p",
        "sub/b.txt",
        "--dest",
        str(tmp_path / "b.txt"),
        "-o",
        "none",
    )
    assert (tmp_path / "b.txt").read_text() == "beta"
    cloud.az("storage", "file", "delete", *args, "-s", "models", "-p", "single.txt", "-o", "none")
    assert "single.txt" not in {e["name"] for e in cloud.az_json("storage", "file", "list", *args, "-s", "models")}


@pytest.fixture(scope="module")
def az_app(cloud, environment):
    app = create_app(cloud.client(ContainerAppsAPIClient), environment, unique("azapp-"))
    wait_ready(cloud, app.configuration.ingress.fqdn)
    return app


def test_containerapp_show_and_revision_list(cloud, environment, az_app):
    shown = cloud.az_json("containerapp", "show", "-g", environment.resource_group, "-n", az_app.name)
    assert shown["properties"]["configuration"]["ingress"]["fqdn"] == az_app.configuration.ingress.fqdn
    revisions = cloud.az_json("containerapp", "revision", "list", "-g", environment.resource_group, "-n", az_app.name)
    assert [r["name"] for r in revisions] == [shown["properties"]["latestRevisionName"]]
    assert revisions[0]["properties"]["healthState"] == "Healthy"


def test_containerapp_revision_restart_gives_a_new_process(cloud, environment, az_app):
    fqdn = az_app.configuration.ingress.fqdn
    before = replica_of(cloud, fqdn)
    cloud.az(
        "containerapp",
        "revision",
        "restart",
        "-g",
        environment.resource_group,
        "-n",
        az_app.name,
        "--revision",
        az_app.latest_revision_name,
        "-o",
        "none",
    )
    wait_ready(cloud, fqdn)
    assert replica_of(cloud, fqdn) != before


def test_containerapp_logs_show_prints_the_replica_log(cloud, environment, az_app):
    def logged():
        result = cloud.az(
            "containerapp",
            "logs",
            "show",
            "-g",
            environment.resource_group,
            "-n",
            az_app.name,
            "--tail",
            "50",
            "--format",
            "text",
        )
        return result.stdout if "replica listening on" in result.stdout else None

    output = wait_until(logged, 30, interval=1, what="the replica's log line")
    assert f"{cloud.state}" in output  # '/mount/data' printed as the replica saw it: the share folder
