"""`az aitk-infer deploy`: publish the inference code (and model folders) to the share as a new
version, restart the app's latest revision, and wait until the endpoint answers ready."""
import time
from dataclasses import dataclass
from pathlib import Path

from azure.cli.core.azclierror import (
    FileOperationError,
    InvalidArgumentValueError,
)
from knack.log import get_logger

from . import readiness
from .endpoint import endpoint_url
from .share_access import open_share
from .share_bootstrap import ENTRYPOINT
from .subscription import check_subscription
from .workspace import read_json_object, user_path

logger = get_logger(__name__)

# The AI Toolkit's share layout, used when the config names no path.
DEFAULT_ADAPTER_PATH = "models/qlora/qlora/gpu_model/adapter"
MODEL_CACHE = "model-cache"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
DEFAULT_TIMEOUT_S = 900


@dataclass
class DeployRequest:
    source: str = None
    adapter_dir: str = None
    base_model_dir: str = None
    restart: bool = True
    wait: bool = True
    timeout: int = DEFAULT_TIMEOUT_S
    rollback: bool = False


def _local_folder(value, flag):
    folder = user_path(value, flag)
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
        targets.append((user_path(request.adapter_dir, "--adapter-dir"),
                        config.get("ADAPTER_PATH") or DEFAULT_ADAPTER_PATH))
    if request.base_model_dir:
        local = user_path(request.base_model_dir, "--base-model-dir")
        named = (adapter_config or {}).get("base_model_name_or_path")
        default = f"{MODEL_CACHE}/{named}" if named and not Path(named).is_absolute() else \
            f"{MODEL_CACHE}/{local.resolve().name}"
        targets.append((local, config.get("BASE_MODEL_PATH") or default))
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


def _checked_inputs(workspace, request):
    """Every local input, checked before the first remote call, so bad input changes nothing:
    (source folder, [(local model folder, share path)])."""
    if request.timeout is not None and request.timeout <= 0:
        raise InvalidArgumentValueError(f"--timeout {request.timeout}: must be a positive number "
                                        "of seconds")
    if request.rollback and (request.source or request.adapter_dir or request.base_model_dir):
        raise InvalidArgumentValueError("--rollback switches to the previous version and uploads "
                                        "nothing. Fix: drop --source/--adapter-dir/--base-model-dir")
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
    return source, adapter_config


def _publish(share, source, models, progress, request, *, lock):
    """The share part of a deploy: the code version (or a rollback), then the model folders."""
    from .codeversions import deploy_code, rollback
    from .folder_mirror import sync_folder
    if request.rollback:
        return {"code": rollback(share, still_locked=lock.ensure_held)}
    return {"code": deploy_code(share, source, progress=progress.bytes, still_locked=lock.ensure_held),
            "models": [{"local": str(local), "share": remote,
                        **sync_folder(share, local, remote, progress=progress.bytes)}
                       for local, remote in models]}


def _restart(app, code, progress, request):
    """Restart the revision (unless --no-restart) and wait until it serves `code`'s version (unless
    --no-wait)."""
    resource = app.get()
    result = {"endpoint": endpoint_url(resource.configuration.ingress.fqdn or "")}
    if not request.restart:
        return {**result, "restarted": False}
    revision = app.latest_revision(resource)
    before = readiness.Snapshot.take(app, revision, result["endpoint"])
    progress.message(f"Restarting {revision}")
    app.restart(revision)
    result.update(restarted=True, revision=revision)
    if request.wait:
        result["revisionState"] = readiness.wait_ready(
            app, revision, endpoint=result["endpoint"], version=code.get("version"), before=before,
            timeout=request.timeout, progress=progress)
        result["ready"] = True
    return result


def deploy(cmd, workspace, request):
    from .arm_errors import arm_errors
    from .container_app import App
    from .deploy_lock import deploy_lock

    cli_ctx = cmd.cli_ctx
    config = workspace.read_config()
    subscription, group, app_name = config.require("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME",
                                                   "ACA_APP_NAME")
    check_subscription(cli_ctx, subscription, config.path)
    source, adapter_config = _checked_inputs(workspace, request)
    models = _model_targets(config, request, adapter_config)

    progress = DeployProgress(cli_ctx)
    summary = {"app": app_name, "resourceGroup": group}
    try:
        with arm_errors(f"Deploying to '{app_name}'"):
            share = open_share(cli_ctx, config)
            # Under the share's deploy lock from the first write to the end of the readiness wait, so a
            # second deploy neither changes the share nor restarts the app under this one. It waits up
            # to its --timeout: the wait it accepts for a whole deploy (this one may upload a large model).
            with deploy_lock(share, wait_s=request.timeout or DEFAULT_TIMEOUT_S) as lock:
                summary.update(_publish(share, source, models, progress, request, lock=lock))
                summary.update(_restart(App(cli_ctx, subscription, group, app_name), summary["code"],
                                        progress, request))
    finally:
        progress.end()
    return summary
