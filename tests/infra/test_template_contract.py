"""What the lead's provision/deploy and the inference server rely on in inference.json."""

import re

import pytest
from aitk_start.torch_check import _release, needed

from localcloud.containerapps.limits import check_probes
from localcloud.templates.functions import FUNCTIONS
from tests.paths import REPO

CONFIG_KEYS = {
    "SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_APP_NAME",
    "ACA_APP_ENDPOINT", "ACA_ENVIRONMENT_NAME", "BASE_MODEL_PATH", "ADAPTER_PATH",
}
# Environment variables the inference server reads (cross-part contract).
SERVER_ENV = {
    "PORT", "AITK_SHARE_ROOT", "AITK_BASE_MODEL_PATH", "AITK_ADAPTER_PATH", "AITK_BASE_ONLY",
    "AITK_MERGE_ADAPTER", "AITK_DTYPE", "AITK_DEVICE", "AITK_MAX_BATCH_SIZE", "AITK_MAX_QUEUE",
    "AITK_MAX_NEW_TOKENS", "AITK_MAX_MODEL_LEN", "AITK_API_KEY", "AITK_SERVED_MODEL_NAME",
}
# ...and the ones the container's start (inference_src/aitk_start) reads before the server runs.
START_ENV = {"AITK_IMAGE"}
SERVER_PORT = "[variables('serverPort')]"


@pytest.fixture
def app(resources_by_type) -> dict:
    return resources_by_type["Microsoft.App/containerApps"]


@pytest.fixture
def container(app) -> dict:
    (only,) = app["properties"]["template"]["containers"]
    return only


def _strings(value, path=()):
    """Every string in a JSON value, with its path."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _strings(sub, path + (key,))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _strings(sub, path + (index,))
    elif isinstance(value, str):
        yield path, value


def test_outputs_are_exactly_the_config_keys_as_strings(twin):
    assert {name: o["type"] for name, o in twin["outputs"].items()} == dict.fromkeys(CONFIG_KEYS, "string")


def test_endpoint_output_is_the_bare_ingress_fqdn(twin):
    value = twin["outputs"]["ACA_APP_ENDPOINT"]["value"]
    assert value.startswith("[reference(resourceId('Microsoft.App/containerApps', variables('names').app)")
    assert value.endswith(".configuration.ingress.fqdn]")


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("storageAccount", "aistorage"), ("fileShare", "aifileshare"), ("environment", "aienv"),
        ("environmentStorage", "aienvstorage"), ("app", "aiacaapp"), ("logAnalytics", "ailog"),
    ],
)
def test_empty_names_default_to_the_fine_tuning_templates_names(twin, key, prefix):
    assert twin["variables"]["suffix"] == "[substring(uniqueString(resourceGroup().id), 0, 5)]"
    param = re.match(r"\[if\(empty\(parameters\('(\w+)'\)\)", twin["variables"]["names"][key]).group(1)
    default_name = f"format('{prefix}{{0}}', variables('suffix'))"
    assert twin["variables"]["names"][key] == (
        f"[if(empty(parameters('{param}')), {default_name}, parameters('{param}'))]"
    )
    assert twin["parameters"][param]["defaultValue"] == ""


def test_api_key_is_a_secure_parameter_without_a_default_secret(twin):
    assert twin["parameters"]["apiKey"] == {
        "type": "securestring", "defaultValue": "", "metadata": twin["parameters"]["apiKey"]["metadata"],
    }


def test_api_key_value_goes_only_into_a_container_apps_secret(twin, app):
    uses = [
        path for path, text in _strings(twin)
        if "parameters('apiKey')" in text.replace("empty(parameters('apiKey'))", "")
    ]
    assert uses == [("resources", twin["resources"].index(app), "properties", "configuration", "secrets")]
    assert "createObject('name', variables('apiKeySecretName'), 'value', parameters('apiKey'))" in (
        app["properties"]["configuration"]["secrets"]
    )


def test_server_reads_the_api_key_through_a_secret_reference(twin, container):
    assert "variables('apiKeyEnv')" in container["env"]
    api_key_env = twin["variables"]["apiKeyEnv"]
    assert "createObject('name', 'AITK_API_KEY', 'secretRef', variables('apiKeySecretName'))" in api_key_env
    assert "'value'" not in api_key_env


def test_storage_and_workspace_keys_come_only_from_list_keys(resources_by_type):
    azure_file = resources_by_type["Microsoft.App/managedEnvironments/storages"]["properties"]["azureFile"]
    logs = resources_by_type["Microsoft.App/managedEnvironments"]["properties"]["appLogsConfiguration"]
    assert azure_file["accountKey"].startswith("[listKeys(resourceId('Microsoft.Storage/storageAccounts'")
    assert logs["logAnalyticsConfiguration"]["sharedKey"].startswith(
        "[listKeys(resourceId('Microsoft.OperationalInsights/workspaces'"
    )


def test_no_output_exposes_a_key(twin):
    for name, output in twin["outputs"].items():
        assert "listKeys" not in output["value"] and "apiKey" not in output["value"], name


def test_no_key_like_property_holds_a_literal(twin):
    key_like = re.compile(r"(key|password|secret)$", re.IGNORECASE)
    literals = [
        path for path, text in _strings(twin["resources"])
        if isinstance(path[-1], str) and key_like.search(path[-1]) and not text.startswith("[")
    ]
    assert literals == []


def test_ingress_is_external_https_only_on_the_server_port(app):
    ingress = app["properties"]["configuration"]["ingress"]
    assert ingress["external"] is True
    assert ingress["allowInsecure"] is False
    assert ingress["targetPort"] == SERVER_PORT


def test_server_port_is_the_inference_servers_default(twin):
    assert twin["variables"]["serverPort"] == 7860


def test_single_revision_mode(app):
    assert app["properties"]["configuration"]["activeRevisionsMode"] == "Single"


def test_probes_check_health_and_readiness_on_the_server_port(container):
    probes = {probe["type"]: probe for probe in container["probes"]}
    assert sorted(probes) == ["Liveness", "Readiness", "Startup"]
    assert {kind: p["httpGet"]["path"] for kind, p in probes.items()} == {
        "Startup": "/health", "Liveness": "/health", "Readiness": "/ready",
    }
    assert all(p["httpGet"]["port"] == SERVER_PORT for p in probes.values())


def test_startup_probe_covers_a_first_start_with_its_margin_within_azures_limits(container):
    # /health answers before the model loads (readiness covers the load), so startup only has to
    # outlast a first start: pip install and packing the environment, or waiting for the replica
    # that does so and unpacking its archive (the sizing is in infra/README.md).
    (startup,) = [p for p in container["probes"] if p["type"] == "Startup"]
    budget = startup["initialDelaySeconds"] + startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= 600
    # A later start (the environment unpacked, no pip) is seen within seconds, not at the next of a
    # few widely spaced probes: the window comes from the count, not the period.
    assert startup["initialDelaySeconds"] + startup["periodSeconds"] <= 20
    check_probes(container)  # Azure's limits per probe type, as localcloud enforces them (cited there)


def test_container_runs_the_joined_default_commands_with_bash(container):
    assert container["command"] == ["/bin/bash", "-c", "[join(parameters('defaultCommands'), '; ')]"]
    assert container["image"] == "[parameters('containerImage')]"


def test_default_image_is_a_pytorch_cuda_image_whose_torch_the_constraints_accept(twin):
    image = twin["parameters"]["containerImage"]["defaultValue"]
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda(\d+\.\d+)-cudnn9-runtime", image)
    assert match, image
    assert _release(match.group(1)) >= _release(needed(str(REPO / "inference_src" / "constraints.txt")))
    # PyTorch's CUDA 12.6 builds carry sm_75 (T4) and sm_80 (A100) kernels (see infra/README.md).
    assert match.group(2) == "12.6"


def test_the_container_is_told_its_image_so_a_torch_mismatch_can_name_it(twin):
    assert {"name": "AITK_IMAGE", "value": "[parameters('containerImage')]"} in twin["variables"]["serverEnv"]


def test_share_is_mounted_read_write_at_mount(twin, resources_by_type, container):
    assert twin["variables"]["shareMountPath"] == "/mount"
    assert container["volumeMounts"] == [
        {"volumeName": "[variables('shareVolumeName')]", "mountPath": "[variables('shareMountPath')]"}
    ]
    (volume,) = resources_by_type["Microsoft.App/containerApps"]["properties"]["template"]["volumes"]
    assert volume == {
        "name": "[variables('shareVolumeName')]", "storageType": "AzureFile",
        "storageName": "[variables('names').environmentStorage]",
    }
    azure_file = resources_by_type["Microsoft.App/managedEnvironments/storages"]["properties"]["azureFile"]
    assert azure_file["accessMode"] == "ReadWrite"


def test_server_environment_uses_only_variables_the_server_reads(twin):
    assert {entry["name"] for entry in twin["variables"]["serverEnv"]} <= SERVER_ENV | START_ENV
    assert {entry["name"]: entry["value"] for entry in twin["variables"]["serverEnv"]} == {
        "AITK_SHARE_ROOT": "[variables('shareMountPath')]",
        "AITK_BASE_MODEL_PATH": "[parameters('baseModelPath')]",
        "AITK_ADAPTER_PATH": "[parameters('adapterPath')]",
        "AITK_IMAGE": "[parameters('containerImage')]",
    }


def test_scale_runs_from_min_replicas_to_the_maximum_on_http_concurrency(app):
    scale = app["properties"]["template"]["scale"]
    assert scale["minReplicas"] == "[parameters('minReplicas')]"
    assert scale["maxReplicas"] == "[parameters('maximumInstanceCount')]"
    (rule,) = scale["rules"]
    assert rule["http"]["metadata"] == {
        "concurrentRequests": "[string(parameters('concurrentRequestsPerReplica'))]"
    }


def test_min_replicas_may_be_zero_for_scale_to_zero(twin):
    assert twin["parameters"]["minReplicas"]["minValue"] == 0


GPU_FIT = {
    "Consumption-GPU-NC8as-T4": (8, "56Gi"),
    "Consumption-GPU-NC24-A100": (24, "220Gi"),
    "NC24-A100": (24, "220Gi"),
}


def test_gpu_table_covers_exactly_the_allowed_profile_types_with_fitting_cpu_and_memory(twin):
    table = twin["variables"]["gpuProfiles"]
    assert sorted(table) == sorted(twin["parameters"]["gpuProfileType"]["allowedValues"])
    assert {kind: (row["cpu"], row["memory"]) for kind, row in table.items()} == GPU_FIT
    assert all(row["workloadProfile"]["workloadProfileType"] == kind for kind, row in table.items())


def test_only_the_dedicated_gpu_profile_has_node_counts(twin):
    table = twin["variables"]["gpuProfiles"]
    for kind, row in table.items():
        counts = {k: v for k, v in row["workloadProfile"].items() if k.endswith("Count")}
        if kind.startswith("Consumption-"):
            assert counts == {}, kind
        else:
            assert counts == {"minimumCount": 0, "maximumCount": "[max(parameters('maximumInstanceCount'), "
                                                                  "parameters('existingGpuMaximumCount'))]"}, kind


def test_dedicated_a100_profile_keeps_the_fine_tuning_templates_profile_name(twin):
    assert twin["variables"]["gpuProfiles"]["NC24-A100"]["workloadProfile"]["name"] == "GPU"


def test_default_is_one_serverless_t4_replica(twin):
    assert twin["parameters"]["gpuProfileType"]["defaultValue"] == "Consumption-GPU-NC8as-T4"
    assert twin["parameters"]["maximumInstanceCount"]["defaultValue"] == 1


def test_app_runs_on_the_chosen_gpu_profile_with_its_cpu_and_memory(twin, app, container):
    assert app["properties"]["workloadProfileName"] == "[variables('gpu').workloadProfile.name]"
    assert twin["variables"]["gpu"] == "[variables('gpuProfiles')[parameters('gpuProfileType')]]"
    assert container["resources"] == {"cpu": "[variables('gpu').cpu]", "memory": "[variables('gpu').memory]"}


def test_environment_has_consumption_the_gpu_profile_and_the_kept_profiles(twin, resources_by_type):
    environment = resources_by_type["Microsoft.App/managedEnvironments"]
    assert environment["properties"]["workloadProfiles"] == "[variables('workloadProfiles')]"
    assert twin["variables"]["workloadProfiles"] == (
        "[concat(createArray(createObject('name', 'Consumption', 'workloadProfileType', 'Consumption'), "
        "variables('gpu').workloadProfile), parameters('existingWorkloadProfiles'))]"
    )


def test_original_storage_settings_are_kept(resources_by_type):
    account = resources_by_type["Microsoft.Storage/storageAccounts"]
    assert (account["sku"], account["kind"]) == ({"name": "Standard_LRS"}, "StorageV2")
    assert account["properties"]["largeFileSharesState"] == "Enabled"
    retention = resources_by_type["Microsoft.Storage/storageAccounts/fileServices"]["properties"]
    assert retention["shareDeleteRetentionPolicy"] == {"enabled": True, "days": 7}
    share = resources_by_type["Microsoft.Storage/storageAccounts/fileServices/shares"]
    assert share["properties"]["shareQuota"] == 1024
    workspace = resources_by_type["Microsoft.OperationalInsights/workspaces"]
    assert workspace["properties"]["sku"] == {"name": "PerGB2018"}


def test_template_uses_only_functions_the_local_arm_engine_evaluates(twin):
    allowed = set(FUNCTIONS)  # lower-case names, as ARM matches them
    used = set()
    for _, text in _strings({k: v for k, v in twin.items() if k != "metadata"}):
        if text.startswith("[") and not text.startswith("[["):
            code = re.sub(r"'(?:[^']|'')*'", "''", text)
            used |= {name.lower() for name in re.findall(r"([A-Za-z]\w*)\s*\(", code)}
    assert {name for name in used - allowed if not name.startswith("list")} == set()  # list* by prefix
