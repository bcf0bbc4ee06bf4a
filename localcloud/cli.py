"""python -m localcloud start|stop|serve --state DIR"""

from __future__ import annotations

import argparse
import configparser
import http.client
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from localcloud.ca import ensure_tls
from localcloud.containerapps import processes
from localcloud.containerapps.runtime import free_port
from localcloud.guard import guard_environment
from localcloud.state import StateDir, StateFile

CLOUD_NAME = "localcloud"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
# az settings that keep it from phoning home (telemetry, surveys, MSAL instance discovery, installs).
_AZ_CONFIG = {
    "core": {
        "collect_telemetry": "no",
        "survey_message": "no",
        "instance_discovery": "no",
        "first_run": "yes",
    },
    "auto-upgrade": {"enable": "no"},
    "extension": {"use_dynamic_install": "no"},
}


class StartError(Exception):
    """Starting or logging in failed; the message says why and what to do."""


def environment(dirs: StateDir, settings: dict) -> dict[str, str]:
    """What DIR/env exports: after sourcing it, plain az talks to this local cloud only."""
    url = f"https://127.0.0.1:{settings['port']}"
    ca = str(dirs.tls / "ca.pem")
    return {
        "LOCALCLOUD_URL": url,
        "LOCALCLOUD_STATE": str(dirs.root),
        "AZURE_CONFIG_DIR": str(dirs.azure_config),
        "REQUESTS_CA_BUNDLE": ca,
        "SSL_CERT_FILE": ca,
        "IDENTITY_ENDPOINT": f"{url}/msi/token",
        "IDENTITY_HEADER": settings["identityHeader"],
        # The oid of every token the identity endpoint issues: what role assignments name.
        "LOCALCLOUD_PRINCIPAL_ID": settings["principalId"],
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_SURVEY_MESSAGE": "false",
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
        "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
        **guard_environment(),
    }


def _write_env_file(dirs: StateDir, variables: dict[str, str]) -> None:
    lines = ["# source this file: plain az then uses the local cloud (python -m localcloud stop ends it)"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    # The az (and python) this local cloud was started with come first, so plain `az` is the one
    # logged in here and sees the extension installed into it.
    lines.append(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    dirs.env_file.write_text("\n".join(lines) + "\n")
    dirs.env_file.chmod(0o600)


def _server_environment() -> dict[str, str]:
    """The server runs from the state directory, so it finds this package through PYTHONPATH."""
    package_parent = str(Path(__file__).resolve().parents[1])
    python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, **guard_environment(), "PYTHONPATH": python_path}


def _server_pid(dirs: StateDir) -> int | None:
    pid_file = dirs.root / "server.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    return pid


def _health(port: int, ca: Path) -> bool:
    import ssl

    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=2, context=ssl.create_default_context(cafile=str(ca))
    )
    try:
        connection.request("GET", "/_localcloud/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _az_executable() -> str:
    beside = Path(sys.executable).parent / "az"
    found = str(beside) if beside.exists() else shutil.which("az")
    if not found:
        raise StartError("az (azure-cli) was not found next to this Python or on PATH: install azure-cli.")
    return found


def _write_az_config(dirs: StateDir) -> None:
    dirs.azure_config.mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser()
    path = dirs.azure_config / "config"
    config.read(path)
    for section, values in _AZ_CONFIG.items():
        if not config.has_section(section):
            config.add_section(section)
        for key, value in values.items():
            config.set(section, key, value)
    with open(path, "w") as handle:
        config.write(handle)


def az_login(dirs: StateDir, variables: dict[str, str]) -> None:
    """Register the cloud, select it and log in with the managed identity, as a user's shell would."""
    env = {**os.environ, **variables}
    if not env.get("IDENTITY_ENDPOINT") or not env.get("IDENTITY_HEADER"):
        # Without them az login --identity asks the VM metadata address, which is not ours to call.
        raise StartError("refusing 'az login --identity': IDENTITY_ENDPOINT and IDENTITY_HEADER are not both set.")
    if not env["IDENTITY_ENDPOINT"].startswith("https://127.0.0.1:"):
        raise StartError(
            f"refusing 'az login --identity': IDENTITY_ENDPOINT {env['IDENTITY_ENDPOINT']} is not this local cloud."
        )
    _write_az_config(dirs)
    az, url = _az_executable(), variables["LOCALCLOUD_URL"]
    registered = (
        CLOUD_NAME in (dirs.azure_config / "clouds.config").read_text()
        if (dirs.azure_config / "clouds.config").exists()
        else False
    )
    steps = [
        [
            "cloud",
            "update" if registered else "register",
            "-n",
            CLOUD_NAME,
            "--endpoint-resource-manager",
            f"{url}/",
            "--endpoint-active-directory",
            url,
            "--endpoint-active-directory-resource-id",
            "https://management.core.windows.net/",
            "--suffix-storage-endpoint",
            "localcloud.internal",
            "--skip-endpoint-discovery",
        ],
        ["cloud", "set", "-n", CLOUD_NAME],
        ["login", "--identity", "-o", "none"],
    ]
    for step in steps:
        result = subprocess.run([az, *step], env=env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise StartError(f"'az {' '.join(step[:2])}' failed: {result.stderr.strip()[-800:]}")


def start(dirs: StateDir) -> None:
    dirs.root.mkdir(parents=True, exist_ok=True)
    from localcloud.server import cloud_settings  # the server's import chain is heavier than stop needs

    state = StateFile(dirs.state_file)
    port = state.section("cloud").get("port") or free_port()
    settings = cloud_settings(state, port)
    tls = ensure_tls(dirs.tls)
    variables = environment(dirs, settings)
    if _server_pid(dirs) is None:
        with open(dirs.server_log, "ab") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "localcloud", "serve", "--state", str(dirs.root)],
                env=_server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(dirs.root),
            )
        (dirs.root / "server.pid").write_text(str(server.pid))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _health(port, tls.ca_cert):
            if server.poll() is not None or time.monotonic() > deadline:
                stop(dirs)
                tail = dirs.server_log.read_text(errors="replace")[-1500:]
                raise StartError(f"the local cloud did not start (see {dirs.server_log}):\n{tail}")
            time.sleep(0.1)
    _write_env_file(dirs, variables)
    az_login(dirs, variables)


def stop(dirs: StateDir) -> None:
    pid = _server_pid(dirs)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _server_pid(dirs) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _server_pid(dirs) is not None:
            os.killpg(pid, signal.SIGKILL)
    (dirs.root / "server.pid").unlink(missing_ok=True)
    processes.end_recorded_groups(dirs.pids, grace_seconds=5)


def serve(dirs: StateDir) -> None:
    import asyncio

    from localcloud.server import LocalCloud

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(LocalCloud(dirs).serve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "serve"])
    parser.add_argument("--state", required=True, type=Path, help="state directory (created if missing)")
    args = parser.parse_args(argv)
    dirs = StateDir(args.state)
    try:
        {"start": start, "stop": stop, "serve": serve}[args.command](dirs)
    except StartError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 1
    if args.command == "start":
        settings = json.loads(dirs.state_file.read_text())["cloud"]
        print(f"localcloud serving at https://127.0.0.1:{settings['port']}; run: source {dirs.env_file}")
    elif args.command == "stop":
        print("localcloud stopped")
    return 0
