"""`az aitk-infer deploy`: publish the inference code (and model folders) to the share as a new
version, restart the app's latest revision, and wait until the endpoint answers ready."""
import time
from dataclasses import dataclass
from pathlib import Path

from azure.cli.core.azclierror import FileOperationError, InvalidArgumentValueError, ResourceNotFoundError
from knack.log import get_logger

from . import _client_factory as clients
from .endpoint import endpoint_url, probe_ready
from .share_bootstrap import ENTRYPOINT
from .workspace import read_json_object

logger = get_logger(__name__)

# The AI Toolkit's share layout, used when the config names no path.
DEFAULT_ADAPTER_PATH = "models/qlora/qlora/gpu_model/adapter"
MODEL_CACHE = "model-cache"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
POLL_SECONDS = 2


@dataclass
class DeployRequest:
    source: str = None
    adapter_dir: str = None
    base_model_dir: str = None
    restart: bool = True
    wait: bool = True
    timeout: int = 900
    rollback: bool = False


def _local_folder(value, flag):
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise FileOperationError(f"{flag} {value}: not a folder. Fix: pass the folder path")
    return folder


def _check_adapter(folder):
    """Refuse an adapter folder the server would refuse, before a byte is uploaded."""
    config = read_json_object(folder / "adapter_config.json",
                              "pass the folder PEFT's save_pretrained wrote (adapter_config.json "
                              "+ adapter_model.safetensors)")
    if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        raise FileOperationError(f"--adapter-dir {folder}: no {' or '.join(ADAPTER_WEIGHTS)}. Fix: "
                                 "pass the folder PEFT's save_pretrained wrote")
    return config


def _check_base_model(folder):
    read_json_object(folder / "config.json", "pass a Hugging Face model folder (config.json, "
                                             "tokenizer files, *.safetensors)")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise FileOperationError(f"--base-model-dir {folder}: no *.safetensors weights. Fix: save "
                                 "the model with save_pretrained(safe_serialization=True)")


def _check_model_folder(value, flag, check_content):
    """A local model or adapter folder the app could load and Azure Files can hold."""
    from .local_tree import check_folder
    from .safetensors_check import check_safetensors
    folder = _local_folder(value, flag)
    found = check_content(folder)
    check_folder(folder)
    check_safetensors(folder, flag)
    return found


def _model_targets(config, request, adapter_config):
    """Share paths for --adapter-dir / --base-model-dir: the config's, else the AI Toolkit's."""
    targets = []
    if request.adapter_dir:
        targets.append((request.adapter_dir, config.get("ADAPTER_PATH") or DEFAULT_ADAPTER_PATH))
    if request.base_model_dir:
        named = (adapter_config or {}).get("base_model_name_or_path")
        default = f"{MODEL_CACHE}/{named}" if named and not Path(named).is_absolute() else \
            f"{MODEL_CACHE}/{Path(request.base_model_dir).resolve().name}"
        targets.append((request.base_model_dir, config.get("BASE_MODEL_PATH") or default))
    return targets


class DeployProgress:
    """az's progress line: a bar with bytes and rate while uploading (`bytes`, fed by
    share_files.Progress, so `done` never goes back nor passes `total`), then a state line
    without a percentage while waiting (`message`)."""

    def __init__(self, cli_ctx):
        self.cli_ctx = cli_ctx
        self.controller = cli_ctx.get_progress_controller(det=True)
        self.started = time.monotonic()
        self.waiting = False

    def bytes(self, done, total):
        rate = done / max(time.monotonic() - self.started, 1e-3) / 2**20
        self.controller.add(message=f"Uploading {done / 2**20:.1f}/{total / 2**20:.1f} MiB "
                                    f"({rate:.1f} MiB/s)", value=done, total_val=max(total, 1))

    def message(self, text):
        # The determinate view would draw the last upload's bar beside the text (`[] 100%`):
        # a state has no percentage, so it goes on az's spinner line instead.
        if not self.waiting:
            self.controller.active_progress.clear()  # ends the bar's line
            self.controller = self.cli_ctx.get_progress_controller(det=False)
            self.waiting = True
        self.controller.add(message=text, value=None, total_val=None)

    def end(self):
        self.controller.end()


def _share(cli_ctx, config):
    """A share client with the account key fetched through ARM; the key stays in memory."""
    subscription, group, account, share = config.require(
        "SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")
    storage = clients.storage_client(cli_ctx, subscription)
    properties = storage.storage_accounts.get_properties(group, account)
    # logging_enable=False: `az --debug` logs response bodies, and this one holds the key.
    key = storage.storage_accounts.list_keys(group, account, logging_enable=False).keys_property[0].value
    return clients.share_client(properties.primary_endpoints.file, share, account, key)


def _wait_ready(app, revision, endpoint, version, old_replicas, timeout, progress):
    """Until /ready answers 200 from a replica started after the restart, running `version`."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    state = {}
    while time.monotonic() < deadline:
        state = app.revision_state(revision)
        fresh = set(app.replicas(revision)) - set(old_replicas)
        ready, detail, body = probe_ready(endpoint, with_body=True)
        served = (body or {}).get("version")
        if ready and fresh and (version is None or served in (None, version)):
            return state
        progress.message(f"Waiting for {revision}: {state.get('runningState')}, /ready {detail} "
                         f"({time.monotonic() - started:.0f} s)")
        time.sleep(POLL_SECONDS)
    tail = []
    try:
        tail = list(app.log_lines(tail=20))
    except Exception as ex:  # noqa: BLE001  (the log is a courtesy; the timeout is the error)
        tail = [f"(log not available: {ex})"]
    for line in tail:
        logger.warning("log | %s", line)
    raise ResourceNotFoundError(
        f"The endpoint was not ready after {timeout} s (revision {revision}: "
        f"{state.get('runningState')}). The last log lines are above; see more with "
        "'az aitk-infer logs --follow', then redeploy or raise --timeout")


def deploy(cmd, workspace, request):
    from azure.core.exceptions import HttpResponseError

    from .arm_errors import arm_error
    from .codeversions import deploy_code, rollback
    from .container_app import App
    from .folder_mirror import sync_folder

    cli_ctx = cmd.cli_ctx
    config = workspace.read_config()
    subscription, group, app_name = config.require("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME",
                                                   "ACA_APP_NAME")
    if request.timeout is not None and request.timeout <= 0:
        raise InvalidArgumentValueError(f"--timeout {request.timeout}: must be a positive number "
                                        "of seconds")
    if request.rollback and (request.source or request.adapter_dir or request.base_model_dir):
        raise InvalidArgumentValueError("--rollback switches to the previous version and uploads "
                                        "nothing. Fix: drop --source/--adapter-dir/--base-model-dir")
    # Every local input is checked before the first remote call, so bad input changes nothing.
    source = _local_folder(request.source, "--source") if request.source else \
        workspace.root / "inference_src"
    if not request.rollback and not (source / ENTRYPOINT).is_file():
        raise FileOperationError(f"{source}: no {ENTRYPOINT}, so not an inference server folder. Fix: "
                                 "pass --source, or restore it with 'az aitk-infer init --force'")
    adapter_config = None
    if request.adapter_dir:
        adapter_config = _check_model_folder(request.adapter_dir, "--adapter-dir", _check_adapter)
    if request.base_model_dir:
        _check_model_folder(request.base_model_dir, "--base-model-dir", _check_base_model)

    progress = DeployProgress(cli_ctx)
    summary = {"app": app_name, "resourceGroup": group}
    try:
        try:
            share = _share(cli_ctx, config)
            if request.rollback:
                summary["code"] = rollback(share)
            else:
                summary["code"] = deploy_code(share, source, progress=progress.bytes)
                summary["models"] = [
                    {"local": str(local), "share": remote,
                     **sync_folder(share, Path(local), remote, progress=progress.bytes)}
                    for local, remote in _model_targets(config, request, adapter_config)]
            app = App(cli_ctx, subscription, group, app_name)
            resource = app.get()
            endpoint = endpoint_url(resource.configuration.ingress.fqdn or "")
            summary["endpoint"] = endpoint
            if not request.restart:
                summary["restarted"] = False
                return summary
            revision = app.latest_revision(resource)
            old_replicas = app.replicas(revision)
            progress.message(f"Restarting {revision}")
            app.restart(revision)
            summary.update(restarted=True, revision=revision)
            if request.wait:
                summary["revisionState"] = _wait_ready(
                    app, revision, endpoint, summary["code"].get("version"), old_replicas,
                    request.timeout, progress)
                summary["ready"] = True
        except HttpResponseError as ex:
            raise arm_error(f"Deploying to '{app_name}'", ex) from None
    finally:
        progress.end()
    return summary
