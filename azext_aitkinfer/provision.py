"""`az aitk-infer provision`: deploy the inference template into the fine-tuning resource group
and write `infra/inference.config.json` from its outputs. Running it again keeps what the app
has (see app_settings.py) unless --parameters change it."""
import re
from dataclasses import dataclass

from azure.cli.core.azclierror import RequiredArgumentMissingError, ValidationError
from knack.log import get_logger
from knack.prompting import NoTTYException, prompt, prompt_y_n

from . import _client_factory as clients
from .app_settings import parameters_of_app
from .arm_errors import GPU_REGIONS, arm_errors
from .arm_template import load_template
from .endpoint import endpoint_url
from .template_parameters import parse_overrides, resolve
from .workspace import EXTRA_CONFIG_KEYS, PARAMETERS_REL, SEED_CONFIG_KEYS, InferenceConfig

logger = get_logger(__name__)

DEFAULT_DEPLOYMENT_NAME = "aitk-infer"
# Fine-tuning config keys that name resources inference reuses, and the template parameter each fills.
REUSED_NAMES = (("STORAGE_ACCOUNT_NAME", "storageAccountName"), ("FILE_SHARE_NAME", "fileShareName"))
APP_TYPE = "microsoft.app/containerapps"


@dataclass
class ProvisionRequest:
    resource_group: str = None
    location: str = None
    parameters: list = None
    deployment_name: str = None
    no_wait: bool = False
    yes: bool = False


def from_az_defaults(value):
    """True for a value az filled in from `az configure --defaults` (a knack DefaultStr)."""
    return bool(getattr(value, "is_default", False))


def _subscription(cli_ctx, config, finetuning):
    """--subscription, else the project's config, else the fine-tuning config, else az's default."""
    from azure.cli.core.commands.client_factory import get_subscription_id
    explicit = cli_ctx.data.get("subscription_id")
    from_files = (config.get("SUBSCRIPTION_ID") if config else None) or (finetuning or {}).get(
        "SUBSCRIPTION_ID")
    return explicit or from_files or get_subscription_id(cli_ctx)


def resource_group(resource_group_name, finetuning, config):
    """-g, else the fine-tuning config, else an earlier provision's config, else
    `az configure --defaults group=` (az hands that in as -g, marked as a default), else a
    prompt. Always a plain str: az's marked default would print as {"isDefault": true}."""
    configured = resource_group_name if from_az_defaults(resource_group_name) else None
    explicit = None if configured else resource_group_name
    chosen = (explicit or (finetuning or {}).get("RESOURCE_GROUP_NAME")
              or (config.get("RESOURCE_GROUP_NAME") if config else None) or configured)
    if chosen:
        return str(chosen)
    try:
        return prompt("Resource group (the fine-tuning one, to reuse its resources): ").strip() or \
            _no_group()
    except NoTTYException:
        return _no_group()


def _no_group():
    raise RequiredArgumentMissingError(
        "No resource group. Fix: pass -g, add RESOURCE_GROUP_NAME to infra/finetuning.config.json, "
        "or run 'az configure --defaults group=<name>'")


def _ensure_group(cli_ctx, subscription, name, location, yes):
    """Returns True when the group had to be created (only with the user's consent)."""
    groups = clients.resource_groups_client(cli_ctx, subscription)
    if groups.check_existence(name):
        return False
    if not location:
        raise RequiredArgumentMissingError(
            f"Resource group '{name}' does not exist. Fix: pass --location to create it (serverless "
            f"GPUs: {GPU_REGIONS}), or -g an existing group")
    if not yes:
        try:
            if not prompt_y_n(f"Resource group '{name}' does not exist. Create it in {location}?"):
                raise ValidationError(f"Resource group '{name}' not created; nothing deployed.")
        except NoTTYException:
            raise ValidationError(f"Resource group '{name}' does not exist. Fix: pass --yes to "
                                  "create it, or -g an existing group") from None
    groups.create_or_update(name, {"location": location})
    return True


def _resource_type_and_name(resource_id):
    """'/subscriptions/../providers/Ns/a/x/b/y' -> ('Ns/a/b', 'x/y')."""
    tail = resource_id.split("/providers/", 1)[1].split("/")
    namespace, rest = tail[0], tail[1:]
    return "/".join([namespace, *rest[0::2]]), "/".join(rest[1::2])


def _existing(cli_ctx, subscription, validated, template):
    """Which of the resources the deployment will touch exist already (so are reused)."""
    api_versions = {r["type"].lower(): r["apiVersion"] for r in template.get("resources", [])
                    if isinstance(r, dict) and "type" in r}
    resources = clients.resources_client(cli_ctx, subscription)
    found = {}
    for resource_id in validated:
        rtype, name = _resource_type_and_name(resource_id)
        api = api_versions.get(rtype.lower())
        if api:
            found[resource_id] = (rtype, name, resources.check_existence_by_id(resource_id, api))
    return found


def _kept_workload_profiles(cli_ctx, subscription, before, template, params):
    """Workload profiles of a reused environment that the template does not declare, so that
    redeploying it keeps them (the fine-tuning job may run on one). The dedicated GPU profile the
    template does declare keeps its maximumCount when that is larger than the one asked for
    (set in params as existingGpuMaximumCount)."""
    if "existingWorkloadProfiles" not in (template.get("parameters") or {}) or \
            "existingWorkloadProfiles" in params:
        return None
    environments = [rid for rid, (t, _, existed) in before.items()
                    if existed and t.lower() == "microsoft.app/managedenvironments"]
    if not environments:
        return None
    gpu_type = params.get("gpuProfileType", {}).get("value") or \
        template["parameters"].get("gpuProfileType", {}).get("defaultValue")
    ours = {"Consumption", (template.get("variables", {}).get("gpuProfiles", {})
                            .get(gpu_type, {}).get("workloadProfile", {}).get("name"))}
    # Generic GET at the template's API version: the appcontainers SDK az ships predates
    # workload profile names.
    env_id = environments[0]
    api = next(r["apiVersion"] for r in template["resources"]
               if r.get("type", "").lower() == "microsoft.app/managedenvironments")
    environment = clients.resources_client(cli_ctx, subscription).get_by_id(env_id, api)
    kept = []
    for profile in (environment.properties or {}).get("workloadProfiles") or []:
        if profile.get("name") in ours:
            if isinstance(profile.get("maximumCount"), int) and \
                    "existingGpuMaximumCount" in template["parameters"]:
                params.setdefault("existingGpuMaximumCount", {"value": profile["maximumCount"]})
            continue
        kept.append({k: profile[k] for k in ("name", "workloadProfileType", "minimumCount",
                                             "maximumCount") if k in profile})
    return kept


def _wait(cli_ctx, poller):
    progress = cli_ctx.get_progress_controller()
    progress.begin()
    try:
        while not poller.done():
            progress.add(message=f"Deploying ({poller.status()})")
            poller.wait(2)
        return poller.result()
    finally:
        progress.end()


def _app_in(before):
    return next((rid for rid, (t, _, existed) in before.items() if existed and t.lower() == APP_TYPE),
                None)


def _kept_app_settings(cli_ctx, subscription, app_id, inputs):
    """The existing app's settings as parameters, for those this run's --parameters leave alone.
    A parameters-file value that differs is named: the app's stays, --parameters changes it."""
    template, params = inputs.template, inputs.params
    api = next(r["apiVersion"] for r in template["resources"] if r.get("type", "").lower() == APP_TYPE)
    resource = clients.resources_client(cli_ctx, subscription).get_by_id(app_id, api)
    group, name = app_id.split("/resourceGroups/", 1)[1].split("/")[0], app_id.rsplit("/", 1)[1]
    # logging_enable=False: `az --debug` logs response bodies, and this one holds the API key.
    listed = clients.containerapps_client(cli_ctx, subscription).container_apps.list_secrets(
        group, name, logging_enable=False)
    secrets = {s.name: s.value for s in (listed.value or [])}
    current = parameters_of_app({"location": resource.location, "tags": resource.tags,
                                 "properties": resource.properties}, secrets, template)
    kept = {}
    for parameter, value in current.items():
        if parameter in inputs.overrides:
            continue
        planned = (params.get(parameter) or {}).get("value")
        if planned is not None and planned != value and parameter not in ("apiKey", "location"):
            logger.warning("Keeping %s=%s of app '%s' (the parameters file says %s). Fix: pass "
                           "--parameters %s=<value> to change it", parameter, value, name, planned,
                           parameter)
        kept[parameter] = {"value": value}
    return kept


def _check_location(request, app_location):
    if request.location and not from_az_defaults(request.location) and app_location and \
            _region(request.location) != _region(app_location):
        raise ValidationError(f"--location {request.location}: the app is in {app_location} and "
                              "Azure cannot move it. Fix: drop --location, or provision into another "
                              "resource group")


def _region(name):
    return name.replace(" ", "").lower()


@dataclass
class _Inputs:
    """Everything local a provision needs, read and checked before the first remote call."""
    config: InferenceConfig | None
    finetuning: dict
    template: dict
    template_source: str
    params: dict  # what goes to ARM, {name: {"value": ...}}
    overrides: dict  # this run's --parameters (and --location), {name: value}


def _local_inputs(cli_ctx, workspace, request):
    workspace.check_config_writable()
    config = workspace.read_config() if workspace.config_path.exists() else None
    finetuning = workspace.read_finetuning_config()
    template, template_source = load_template(cli_ctx, workspace.root)
    declared = template.get("parameters") or {}
    file_params = workspace.read_parameters() if workspace.parameters_path.exists() else {}
    overrides = parse_overrides(request.parameters, declared)
    if request.location and not from_az_defaults(request.location) and "location" in declared:
        overrides["location"] = request.location
    for config_key, param in REUSED_NAMES:
        value = (finetuning or {}).get(config_key)
        if value and file_params.get(param, {}).get("value") is None and param not in overrides:
            overrides[param] = value
    params = resolve(file_params, overrides, template, str(workspace.root / PARAMETERS_REL))
    return _Inputs(config, finetuning, template, template_source, params, overrides)


def provision(cmd, workspace, request):
    cli_ctx = cmd.cli_ctx
    inputs = _local_inputs(cli_ctx, workspace, request)
    subscription = _subscription(cli_ctx, inputs.config, inputs.finetuning)
    group = resource_group(request.resource_group, inputs.finetuning, inputs.config)
    name = request.deployment_name or DEFAULT_DEPLOYMENT_NAME
    if not re.fullmatch(r"[-\w.()]{1,64}", name):
        raise ValidationError(f"--deployment-name {name}: use 1-64 letters, digits, '-', '_', '.', "
                              "'(' or ')'")

    with arm_errors(f"Resource group '{group}'"):
        group_created = _ensure_group(cli_ctx, subscription, group, request.location or inputs.params.get(
            "location", {}).get("value"), request.yes)
    deployments = clients.deployments_client(cli_ctx, subscription)
    body = {"properties": {"mode": "Incremental", "template": inputs.template, "parameters": inputs.params}}
    with arm_errors("Template validation"):
        # logging_enable=False: `az --debug` logs request bodies, and these carry apiKey.
        validation = deployments.begin_validate(group, name, body, logging_enable=False).result()
    with arm_errors("Provisioning"):
        before = _existing(cli_ctx, subscription, [r.id for r in (validation.properties.validated_resources or [])],
                           inputs.template)
        app_id = _app_in(before)
        if app_id:
            inputs.params.update(_kept_app_settings(cli_ctx, subscription, app_id, inputs))
            _check_location(request, inputs.params.get("location", {}).get("value"))
        kept = _kept_workload_profiles(cli_ctx, subscription, before, inputs.template, inputs.params)
        if kept:
            inputs.params["existingWorkloadProfiles"] = {"value": kept}
        poller = deployments.begin_create_or_update(group, name, body, logging_enable=False)
        if request.no_wait:
            return None  # az prints nothing for --no-wait; provision again to write the config
        result = _wait(cli_ctx, poller)

    outputs = {k: v.get("value") for k, v in (result.properties.outputs or {}).items()}
    previous = dict(inputs.config.values) if inputs.config else {}
    written = workspace.write_config({k: outputs[k] for k in SEED_CONFIG_KEYS + EXTRA_CONFIG_KEYS
                                      if k in outputs})
    created = [f"{t} {n}" for t, n, existed in before.values() if not existed]
    return {
        "deploymentName": name, "subscription": subscription, "resourceGroup": group,
        "resourceGroupCreated": group_created, "template": inputs.template_source,
        "app": written.get("ACA_APP_NAME"),
        "endpoint": endpoint_url(written.get("ACA_APP_ENDPOINT") or ""),
        "created": created, "reused": [f"{t} {n}" for t, n, existed in before.values() if existed],
        "changed": bool(created) or group_created or previous != written.values,
        "config": str(written.path),
    }


def show_deployment(cmd, workspace, resource_group_name=None, deployment_name=None):
    """The provision's ARM deployment, for `az aitk-infer wait` (az's generic wait polls it and
    reads provisioningState; a 404 must reach it as is, so no arm_errors here)."""
    config = workspace.read_config() if workspace.config_path.exists() else None
    finetuning = workspace.read_finetuning_config()
    subscription = _subscription(cmd.cli_ctx, config, finetuning)
    group = resource_group(resource_group_name, finetuning, config)
    return clients.deployments_client(cmd.cli_ctx, subscription).get(
        group, deployment_name or DEFAULT_DEPLOYMENT_NAME)
