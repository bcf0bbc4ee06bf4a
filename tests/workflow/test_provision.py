"""az aitk-infer provision on the local cloud, through the real az."""
import json
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from localcloud.testing import error_lines
from tests.paths import REPO

APP = "Microsoft.App/containerApps"
APP_API = "2025-01-01"


def app_resource(project):
    config = project.config
    app_id = (f"/subscriptions/{config['SUBSCRIPTION_ID']}/resourceGroups/{config['RESOURCE_GROUP_NAME']}"
              f"/providers/{APP}/{config['ACA_APP_NAME']}")
    return json.loads(project.cloud.az("resource", "show", "--ids", app_id, "--api-version", APP_API,
                                       "-o", "json").stdout)


def env_names(resource):
    return {e["name"] for e in resource["properties"]["template"]["containers"][0].get("env", [])}


def az_with(project, env, *args):
    """az in the project folder with extra environment: AZURE_DEFAULTS_GROUP/LOCATION are what
    'az configure --defaults' sets, here for one process (the cloud's config dir is shared)."""
    return subprocess.run([str(REPO / ".venv" / "bin" / "az"), *args], cwd=project.root,
                          env={**project.cloud.env, **env}, capture_output=True, text=True, timeout=300)


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


def test_provision_again_keeps_the_api_key_and_v1_still_refuses_anonymous_calls(cloud, models, new_project,
                                                                                tmp_path):
    key = f"kept-key-{uuid.uuid4().hex}"
    secret = tmp_path / "secret.parameters.json"
    secret.write_text(json.dumps({"parameters": {"apiKey": {"value": key},
                                                 "maximumInstanceCount": {"value": 2}}}))
    new_project.az("aitk-infer", "provision", "-g", "rg-keep-key", "-l", "westus3", "--yes",
                   "--parameters", f"@{secret}", "-o", "none")
    new_project.az("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
                   "--base-model-dir", str(models / "base"), "--timeout", "600", "-o", "none",
                   timeout=700)

    again = new_project.az_json("aitk-infer", "provision")
    assert again["changed"] is False and key not in json.dumps(again)
    resource = app_resource(new_project)
    assert "AITK_API_KEY" in env_names(resource)
    assert resource["properties"]["template"]["scale"]["maxReplicas"] == 2
    endpoint = f"https://{new_project.config['ACA_APP_ENDPOINT']}"
    deadline = time.monotonic() + 120
    while True:  # a new revision, if one was rolled, needs a moment to answer
        anonymous = httpx.get(f"{endpoint}/v1/models", verify=ssl.create_default_context(cafile=cloud.ca), timeout=10)
        if anonymous.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(2)
    keyed = httpx.get(f"{endpoint}/v1/models", verify=ssl.create_default_context(cafile=cloud.ca), timeout=10,
                      headers={"Authorization": f"Bearer {key}"})
    assert (anonymous.status_code, keyed.status_code) == (401, 200)


def test_provision_again_keeps_extra_env_once_beside_the_servers_own(new_project):
    extra = '[{"name": "MY_SETTING", "value": "42"}]'
    new_project.az("aitk-infer", "provision", "-g", "rg-extra-env", "-l", "westus3", "--yes",
                   "--parameters", f"extraEnv={extra}", "-o", "none")
    first = app_resource(new_project)["properties"]["template"]["containers"][0]["env"]
    new_project.az("aitk-infer", "provision", "-o", "none")
    again = app_resource(new_project)["properties"]["template"]["containers"][0]["env"]
    names = [e["name"] for e in again]
    assert again == first and "MY_SETTING" in names and len(names) == len(set(names))


def test_parameters_of_this_run_change_what_the_app_has(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-change", "-l", "westus3", "--yes",
                   "--parameters", "maximumInstanceCount=3", "-o", "none")
    new_project.az("aitk-infer", "provision", "-o", "none")
    assert app_resource(new_project)["properties"]["template"]["scale"]["maxReplicas"] == 3
    new_project.az("aitk-infer", "provision", "--parameters", "maximumInstanceCount=2", "-o", "none")
    assert app_resource(new_project)["properties"]["template"]["scale"]["maxReplicas"] == 2


def test_az_default_group_is_used_and_printed_by_name(new_project):
    result = az_with(new_project, {"AZURE_DEFAULTS_GROUP": "rg-az-default"}, "aitk-infer", "provision",
                     "-l", "westus3", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resourceGroup"] == "rg-az-default"
    assert new_project.config["RESOURCE_GROUP_NAME"] == "rg-az-default"


def test_finetuning_config_group_wins_over_az_default_group(cloud, new_project):
    cloud.az("group", "create", "-n", "rg-ft-wins", "-l", "westus3", "-o", "none")
    (new_project.root / "infra" / "finetuning.config.json").write_text(
        json.dumps({"RESOURCE_GROUP_NAME": "rg-ft-wins"}))
    result = az_with(new_project, {"AZURE_DEFAULTS_GROUP": "rg-elsewhere"}, "aitk-infer", "provision",
                     "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resourceGroup"] == "rg-ft-wins"


def test_az_default_location_does_not_move_an_existing_app(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-stay", "-l", "westus3", "--yes", "-o", "none")
    result = az_with(new_project, {"AZURE_DEFAULTS_LOCATION": "swedencentral"}, "aitk-infer", "provision",
                     "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changed"] is False
    assert app_resource(new_project)["location"].replace(" ", "").lower() == "westus3"


def test_az_default_location_places_a_new_group_and_its_app(new_project):
    result = az_with(new_project, {"AZURE_DEFAULTS_LOCATION": "swedencentral"}, "aitk-infer", "provision",
                     "-g", "rg-new-default-loc", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert app_resource(new_project)["location"].replace(" ", "").lower() == "swedencentral"


def test_wait_returns_once_a_no_wait_provision_is_done(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-wait", "-l", "westus3", "--yes", "--no-wait")
    new_project.az("aitk-infer", "wait", "-g", "rg-wait", "--created", "--interval", "2", "--timeout", "120")
    state = new_project.cloud.az_json("deployment", "group", "show", "-g", "rg-wait", "-n", "aitk-infer")
    assert state["properties"]["provisioningState"] == "Succeeded"
    summary = new_project.az_json("aitk-infer", "provision", "-g", "rg-wait")  # then writes the config
    assert summary["created"] == [] and new_project.config["RESOURCE_GROUP_NAME"] == "rg-wait"
