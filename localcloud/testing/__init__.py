"""The harness for code that drives a local cloud: start and stop one, read its env file, a
credential for the Azure SDKs, and the real `az` run offline. Tests, benchmarks and the demo
use this module; the code under test never imports localcloud."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from azure.core.credentials import AccessToken

from localcloud.guard import guard_environment

AZ = Path(sys.executable).with_name("az")
ARM_SCOPE = "https://management.core.windows.net/.default"
_IDENTITY_VARIABLES = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT")


class LocalCloudError(RuntimeError):
    """The local cloud could not be started or is not safe to use; the message says why."""


def parse_env_file(path: Path) -> dict[str, str]:
    """The variables `source DIR/env` sets, expanded as the shell would (PATH extends "$PATH")."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            variables[name] = os.path.expandvars(shlex.split(value)[0]) if value else ""
    return variables


def shell_environment(state: Path) -> dict[str, str]:
    """What a shell has after `source DIR/env`: os.environ, less any identity of its own, plus DIR/env."""
    environ = {k: v for k, v in os.environ.items() if k not in _IDENTITY_VARIABLES}
    return {**environ, **parse_env_file(state / "env")}


def _without_identity() -> dict[str, str]:
    # Start must do its own login: nothing identity-related may leak in from the caller.
    return {k: v for k, v in os.environ.items() if k not in _IDENTITY_VARIABLES}


def _localcloud(command: str, state: Path) -> list[str]:
    return [sys.executable, "-m", "localcloud", command, "--state", str(state)]


def run_localcloud(command: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m localcloud start|stop --state DIR`."""
    return subprocess.run(
        _localcloud(command, state),
        env=_without_identity(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class LocalCloudCredential:
    """A TokenCredential for the SDKs: the managed identity protocol against the local cloud, like az uses."""

    def __init__(self, env: dict[str, str]):
        self._env = env

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        resource = scopes[0].removesuffix(".default") if scopes else "https://management.core.windows.net/"
        reply = requests.get(
            self._env["IDENTITY_ENDPOINT"],
            params={"api-version": "2019-08-01", "resource": resource},
            headers={"X-IDENTITY-HEADER": self._env["IDENTITY_HEADER"]},
            verify=self._env["REQUESTS_CA_BUNDLE"],
            timeout=10,
            proxies={},
        )
        reply.raise_for_status()
        body = reply.json()
        return AccessToken(body["access_token"], int(body["expires_on"]))


@dataclass
class Cloud:
    state: Path
    env: dict[str, str]  # os.environ plus DIR/env: what a shell has after `source DIR/env`

    @property
    def url(self) -> str:
        return self.env["LOCALCLOUD_URL"]

    @property
    def ca(self) -> str:
        return self.env["REQUESTS_CA_BUNDLE"]

    @property
    def subscription_id(self) -> str:
        return json.loads((self.state / "state.json").read_text())["cloud"]["subscriptionId"]

    def az(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(AZ), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"az {' '.join(args[:3])} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def az_json(self, *args: str):
        return json.loads(self.az(*args, "-o", "json").stdout or "null")

    def client(self, client_class, **kwargs):
        return client_class(
            LocalCloudCredential(self.env),
            self.subscription_id,
            base_url=self.url,
            credential_scopes=[ARM_SCOPE],
            connection_verify=self.ca,
            **kwargs,
        )

    def control(self, method: str, name: str, body=None) -> requests.Response:
        return requests.request(
            method, f"{self.url}/_localcloud/{name}", json=body, verify=self.ca, timeout=10, proxies={}
        )

    def https_get(self, url: str, **kwargs) -> requests.Response:
        return requests.get(url, verify=self.ca, timeout=kwargs.pop("timeout", 10), proxies={}, **kwargs)


def attach(state: Path) -> Cloud:
    """A running local cloud's handle, after checking that its env keeps az on this machine."""
    env_vars = parse_env_file(state / "env")
    clouds = state / "azure" / "clouds.config"
    # Before any az call of ours: without these, `az` could fall back to a real Azure address.
    missing = [
        k for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CONFIG_DIR", "HTTPS_PROXY") if not env_vars.get(k)
    ]
    if missing or not clouds.exists() or "localcloud" not in clouds.read_text():
        raise LocalCloudError(f"refusing to use the local cloud: env lacks {missing} or the cloud is not registered")
    return Cloud(state, shell_environment(state))


_stopping: list[subprocess.Popen] = []


def stop_in_background(state: Path) -> None:
    """`localcloud stop` without waiting for it, so the clouds a test session ends stop together (each waits
    out its replicas' grace period); wait_for_stopped_clouds() (the pytest plugin calls it) waits for them."""
    _stopping.append(subprocess.Popen(_localcloud("stop", state), env=_without_identity(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def wait_for_stopped_clouds(timeout: float = 120) -> None:
    while _stopping:
        _stopping.pop().wait(timeout)


@contextlib.contextmanager
def session_cloud(state: Path):
    """A local cloud for a test session: started now, stopped in the background when the session is over."""
    started = start_cloud(state)
    try:
        yield started
    finally:
        stop_in_background(state)


def start_cloud(state: Path) -> Cloud:
    """Start a local cloud in `state` and return its handle; stop it again if it is not usable."""
    result = run_localcloud("start", state)
    if result.returncode != 0:
        run_localcloud("stop", state)
        raise LocalCloudError(f"localcloud start failed: {result.stderr[-2000:]}")
    try:
        return attach(state)
    except LocalCloudError:
        run_localcloud("stop", state)
        raise


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def offline_env(**extra: str) -> dict[str, str]:
    """az's environment with no local cloud: no telemetry, and the guard proxy for every
    non-loopback address so nothing can leave this machine. AZURE_EXTENSION_DIR and
    AZURE_CONFIG_DIR come from the caller's environment."""
    env = dict(os.environ)
    env.update({"AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true", **guard_environment()})
    env.update(extra)
    return env


def run_az(*args: str, cwd=None, env=None, timeout: float = 120, input: str | None = None):
    if not AZ.exists():
        raise LocalCloudError(f"{AZ} not found: install azure-cli beside this Python")
    return subprocess.run(
        [str(AZ), *args], cwd=cwd, env=env or offline_env(), input=input, capture_output=True, text=True,
        timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    """stderr without az's preview notices: what the user is told went wrong."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and "preview" not in line and "aka.ms/CLI_refstatus" not in line
    ]
