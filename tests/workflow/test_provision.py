"""az aitk-infer provision on the local cloud, through the real az."""
import json

import pytest

from localcloud.testing import error_lines

APP = "Microsoft.App/containerApps"


def test_fresh_resource_group_gets_everything_and_the_config(new_project):
    summary = new_project.az_json("aitk-infer", "provision", "-g", "rg-fresh", "-l", "westus3",
                                  "--yes")
    assert summary["resourceGroupCreated"] is True and summary["reused"] == []
    assert {c.split()[0] for c in summary["created"]} == {
        "Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/fileServices",
        "Microsoft.Storage/storageAccounts/fileServices/shares",
        "Microsoft.OperationalInsights/workspaces", "Microsoft.App/managedEnvironments",
        "Microsoft.App/managedEnvironments/storages", APP}
    config = new_project.config
    assert config["RESOURCE_GROUP_NAME"] == "rg-fresh"
    assert config["ACA_APP_NAME"].startswith("aiacaapp") and config["ACA_APP_ENDPOINT"]
    assert "://" not in config["ACA_APP_ENDPOINT"]
    assert summary["endpoint"] == f"https://{config['ACA_APP_ENDPOINT']}"
    shown = new_project.az("aitk-infer", "show-endpoint", "-o", "tsv", "--query", "endpoint")
    assert shown.stdout.strip() == summary["endpoint"]


def test_second_provision_changes_nothing_and_writes_the_same_config(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-twice", "-l", "westus3", "--yes", "-o",
                   "none")
    first = new_project.config_bytes()
    again = new_project.az_json("aitk-infer", "provision")  # the group comes from the config now
    assert again["changed"] is False and again["created"] == []
    assert len(again["reused"]) == 7
    assert new_project.config_bytes() == first


def test_finetuning_resources_are_reused_and_their_data_untouched(cloud, new_project):
    """The fine-tuning step left storage, share (holding model files) and environment."""
    template = json.loads((new_project.root / "infra/provision/inference.json").read_text())
    template["resources"] = [r for r in template["resources"] if r["type"] != APP]
    template["outputs"] = {k: v for k, v in template["outputs"].items()
                           if k in ("STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")}
    finetuning = new_project.root / "finetuning.json"
    finetuning.write_text(json.dumps(template))
    cloud.az("group", "create", "-n", "rg-ft", "-l", "westus3", "-o", "none")
    outputs = json.loads(cloud.az("deployment", "group", "create", "-g", "rg-ft", "-n", "ft",
                                  "--template-file", str(finetuning),
                                  "--parameters", "defaultCommands=[]", "--query",
                                  "properties.outputs", "-o", "json").stdout)
    account, share = (outputs[k]["value"] for k in ("STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME"))
    folder = cloud.state / "files" / account / "shares" / share / "models" / "qlora"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (new_project.root / "infra" / "finetuning.config.json").write_text(json.dumps(
        {"RESOURCE_GROUP_NAME": "rg-ft", "STORAGE_ACCOUNT_NAME": account, "FILE_SHARE_NAME": share}))

    summary = new_project.az_json("aitk-infer", "provision")  # group from the fine-tuning config
    assert summary["resourceGroup"] == "rg-ft" and summary["resourceGroupCreated"] is False
    assert [c.split()[0] for c in summary["created"]] == [APP]
    assert len(summary["reused"]) == 6
    assert (folder / "adapter_config.json").read_text() == '{"r": 8}'
    assert new_project.config["STORAGE_ACCOUNT_NAME"] == account


def test_manual_provisioning_path_works_with_show_endpoint_live(cloud, new_project):
    """Deploy the twin by hand, fill the config by hand (the seed's manual path)."""
    params = json.loads((new_project.root / "infra/provision/inference.parameters.json").read_text())
    params["parameters"] = {k: v for k, v in params["parameters"].items() if v["value"] is not None}
    params_file = new_project.root / "manual.parameters.json"
    params_file.write_text(json.dumps(params))
    cloud.az("group", "create", "-n", "rg-manual", "-l", "westus3", "-o", "none")
    outputs = json.loads(cloud.az(
        "deployment", "group", "create", "-g", "rg-manual", "-n", "by-hand", "--template-file",
        str(new_project.root / "infra/provision/inference.json"), "--parameters", f"@{params_file}",
        "--query", "properties.outputs", "-o", "json").stdout)
    config = {k: outputs[k]["value"] for k in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME",
                                               "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME",
                                               "ACA_APP_NAME")}
    config["ACA_APP_ENDPOINT"] = "stale.example.invalid"  # the FQDN moved since it was copied
    (new_project.root / "infra" / "inference.config.json").write_text(json.dumps(config))

    live = new_project.az_json("aitk-infer", "show-endpoint", "--live")
    assert live["endpoint"] == f"https://{outputs['ACA_APP_ENDPOINT']['value']}"
    assert live["latestRevision"] and live["provisioningState"]
    assert live["ready"] is False  # no code deployed yet: the replica cannot answer /ready
    assert new_project.config["ACA_APP_ENDPOINT"] == outputs["ACA_APP_ENDPOINT"]["value"]


ARM_ERRORS = [
    ("gpu-quota", "Microsoft.App/containerApps", 400, "MaxRegionalQuotaExceeded",
     "Requested GPU quota exceeds the limit for SubscriptionNCA100Gpus", "request it"),
    ("no-serverless-gpu", "Microsoft.App/managedEnvironments", 400,
     "WorkloadProfileTypeNotSupportedInRegion",
     "Workload profile type Consumption-GPU-NC8as-T4 is not supported in region eastus",
     "serverless GPUs are offered in a few regions only"),
    ("storage-name-taken", "Microsoft.Storage/storageAccounts", 409, "StorageAccountAlreadyTaken",
     "The storage account named aistorage is already taken.", "storage account names are global"),
    ("provider-not-registered", "Microsoft.App/managedEnvironments", 409,
     "MissingSubscriptionRegistration",
     "The subscription is not registered to use namespace 'Microsoft.App'.",
     "az provider register --namespace Microsoft.App"),
]


@pytest.mark.parametrize("case,rtype,status,code,message,hint", ARM_ERRORS,
                         ids=[c[0] for c in ARM_ERRORS])
def test_arm_errors_come_back_as_one_line_with_a_hint(cloud, new_project, case, rtype, status,
                                                      code, message, hint):
    cloud.control("POST", "faults", {"armErrors": [
        {"method": "PUT", "resourceType": rtype, "status": status, "code": code,
         "message": message}]}).raise_for_status()
    try:
        result = new_project.az("aitk-infer", "provision", "-g", f"rg-err-{case}", "-l", "westus3",
                                "--yes", check=False)
    finally:
        cloud.control("POST", "faults", {}).raise_for_status()
    lines = error_lines(result.stderr)
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert code in lines[0] and message.split()[0] in lines[0] and hint in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert new_project.config_bytes() is None  # no config half-written
