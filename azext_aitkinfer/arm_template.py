"""Which ARM template provision deploys: the workspace's bicep (compiled by the bicep CLI when
az has one), else its JSON twin when it is in step with the bicep, else the bundled one."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from azure.cli.core.azclierror import FileOperationError, InvalidTemplateError

from .workspace import BICEP_REL, TEMPLATE_REL, read_json_object

TWIN_HASH_KEY = "bicepSha256"
REGENERATE = ("install the bicep CLI ('az bicep install', as Cloud Shell has it), or rebuild the "
              "twin: 'az bicep build --file infra/provision/inference.bicep'")


def bicep_sha256(path):
    # Line endings must not matter: a Windows checkout has the same template.
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def find_bicep(cli_ctx):
    """Where `az deployment group create -f x.bicep` would find bicep, without downloading."""
    installed = Path(cli_ctx.config.config_dir) / "bin" / ("bicep.exe" if os.name == "nt" else "bicep")
    if installed.is_file():
        return str(installed)
    use_path = cli_ctx.config.getboolean("bicep", "use_binary_from_path", fallback=True)
    return shutil.which("bicep") if use_path else None


def _compile(bicep_bin, bicep):
    result = subprocess.run([bicep_bin, "build", "--stdout", str(bicep)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise InvalidTemplateError(f"{bicep}: bicep build failed: {first}")
    return json.loads(result.stdout)


def load_template(cli_ctx, root):
    """Return (template dict, where it came from)."""
    from .scaffold import bundled_root
    root = Path(root)
    if not (root / BICEP_REL).exists() and not (root / TEMPLATE_REL).exists():
        root = bundled_root()
    bicep, twin = root / BICEP_REL, root / TEMPLATE_REL
    bicep_bin = find_bicep(cli_ctx) if bicep.exists() else None
    if bicep_bin:
        return _compile(bicep_bin, bicep), str(bicep)
    if not twin.exists():
        raise FileOperationError(f"{twin}: not found and no bicep CLI to compile {bicep}. "
                                 f"Fix: {REGENERATE}")
    template = read_json_object(twin, REGENERATE)
    if bicep.exists():
        recorded = (template.get("metadata") or {}).get(TWIN_HASH_KEY)
        if recorded != bicep_sha256(bicep):
            raise InvalidTemplateError(f"{bicep}: changed since its twin {twin.name} was built, and "
                                       f"no bicep CLI is installed to compile it. Fix: {REGENERATE}")
    return template, str(twin)
