"""Run the real `az` from .venv, with the extension installed by `make test`, offline-safe."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZ = Path(sys.executable).with_name("az")


def offline_env(**extra):
    """az's environment for tests: the .venv's extension dir, no telemetry, and a dead proxy
    for every non-loopback address so nothing can leave this machine."""
    env = dict(os.environ)
    env.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
    env.setdefault("AZURE_CONFIG_DIR", str(REPO / ".venv" / "azure-config"))
    env.update({"AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
                "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                "NO_PROXY": "127.0.0.1,localhost"})
    env.update(extra)
    return env


def run_az(*args, cwd=None, env=None, timeout=120, input=None):
    if not AZ.exists():
        raise RuntimeError(f"{AZ} not found: run 'make test', which installs az into .venv")
    return subprocess.run([str(AZ), *args], cwd=cwd, env=env or offline_env(), input=input,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(stderr):
    """stderr without az's preview notices: what the user is told went wrong."""
    return [line for line in stderr.splitlines()
            if line.strip() and "preview" not in line and "aka.ms/CLI_refstatus" not in line]
