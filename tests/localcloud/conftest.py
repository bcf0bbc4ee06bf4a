"""A local cloud for the localcloud tests: started once per session in a temporary state directory."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AccessToken

REPO = Path(__file__).resolve().parents[2]
AZ = Path(sys.executable).with_name("az")
ARM_SCOPE = "https://management.core.windows.net/.default"


def parse_env_file(path: Path) -> dict[str, str]:
    variables = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            variables[name] = shlex.split(value)[0] if value else ""
    return variables


def run_localcloud(command: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    # Start must do its own login: nothing identity-related may leak in from the caller.
    env = {k: v for k, v in os.environ.items() if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "localcloud", command, "--state", str(state)],
        env=env,
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


def start_cloud(state: Path) -> Cloud:
    result = run_localcloud("start", state)
    if result.returncode != 0:
        run_localcloud("stop", state)
        pytest.fail(f"localcloud start failed: {result.stderr[-2000:]}")
    env_vars = parse_env_file(state / "env")
    clouds = state / "azure" / "clouds.config"
    # Before any az call of ours: without these, `az` could fall back to a real Azure address.
    missing = [
        k for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CONFIG_DIR", "HTTPS_PROXY") if not env_vars.get(k)
    ]
    if missing or not clouds.exists() or "localcloud" not in clouds.read_text():
        run_localcloud("stop", state)
        pytest.fail(f"refusing to use the local cloud: env lacks {missing} or the cloud is not registered")
    env = {**os.environ, **env_vars}
    env.pop("MSI_ENDPOINT", None)
    return Cloud(state, env)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    state = tmp_path_factory.mktemp("localcloud-state")
    started = start_cloud(state)
    try:
        yield started
    finally:
        run_localcloud("stop", state)


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


# A container command standing in for an image: a small HTTP server on $PORT.
REPLICA_SERVER = r"""
import http.server, json, os, threading
gate = threading.Event()
class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, body, content_type="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/ready":
            self.reply(b"ok")
        elif self.path == "/pid":
            self.reply(str(os.getpid()).encode())
        elif self.path == "/env":
            names = ("APP_SECRET", "DATA_DIR", "PORT", "HOME")
            self.reply(json.dumps({k: os.environ.get(k) for k in names}).encode(), "application/json")
        elif self.path == "/file":
            self.reply(open(os.path.join(os.environ["DATA_DIR"], "hello.txt"), "rb").read())
        elif self.path == "/go":
            gate.set()
            self.reply(b"go")
        elif self.path == "/sse":
            # The second event waits for /go, which the client sends only after it saw the first one.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            gate.wait(30)
            self.wfile.write(b"data: second\n\n")
            self.wfile.flush()
            self.close_connection = True
    def log_message(self, *args):
        pass
print("replica listening on", os.environ["PORT"], "data under /mount/data", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@dataclass
class Environment:
    resource_group: str
    account: str
    share: str
    environment_id: str
    storage_name: str
    location: str = "eastus"


@pytest.fixture(scope="session")
def environment(cloud: Cloud) -> Environment:
    return build_environment(cloud)


def build_environment(cloud: Cloud) -> Environment:
    """A resource group with a storage account + share and a managed environment that mounts it."""
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.appcontainers.models import ManagedEnvironment, WorkloadProfile
    from azure.mgmt.resource import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

    group, account, share = unique("rg-apps-"), unique("apps"), "data"
    cloud.client(ResourceManagementClient).resource_groups.create_or_update(group, {"location": "eastus"})
    storage = cloud.client(StorageManagementClient)
    storage.storage_accounts.begin_create(
        group, account, {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}
    ).result()
    storage.file_shares.create(group, account, share, {})
    key = storage.storage_accounts.list_keys(group, account).as_dict()["keys"][0]["value"]
    apps = cloud.client(ContainerAppsAPIClient)
    env = apps.managed_environments.begin_create_or_update(
        group,
        "env",
        ManagedEnvironment(
            location="eastus",
            workload_profiles=[WorkloadProfile(workload_profile_type="Consumption", minimum_count=0, maximum_count=1)],
        ),
    ).result()
    apps.managed_environments_storages.create_or_update(
        group,
        "env",
        "share",
        {
            "properties": {
                "azure_file": {
                    "account_name": account,
                    "account_key": key,
                    "share_name": share,
                    "access_mode": "ReadWrite",
                }
            }
        },
    )
    return Environment(group, account, share, env.id, "share")


def app_body(environment: Environment, env_vars: list[dict] | None = None, probes: bool = True) -> dict:
    probe = {"http_get": {"path": "/ready", "port": 8080}, "period_seconds": 1, "failure_threshold": 30}
    return {
        "location": environment.location,
        "managed_environment_id": environment.environment_id,
        "configuration": {
            "ingress": {"external": True, "target_port": 8080},
            "secrets": [{"name": "app-secret", "value": "s3cret-value"}],
        },
        "template": {
            "containers": [
                {
                    "name": "main",
                    "image": "localcloud/python:3.11",
                    "command": ["python3", "-c"],
                    "args": [REPLICA_SERVER],
                    "env": env_vars
                    or [
                        {"name": "DATA_DIR", "value": "/mount/data"},
                        {"name": "APP_SECRET", "secret_ref": "app-secret"},
                    ],
                    "volume_mounts": [{"volume_name": "share", "mount_path": "/mount"}],
                    "probes": [dict(probe, type="Startup"), dict(probe, type="Readiness")] if probes else [],
                }
            ],
            "volumes": [{"name": "share", "storage_type": "AzureFile", "storage_name": environment.storage_name}],
            "scale": {"min_replicas": 1, "max_replicas": 1},
        },
    }


READY_TIMEOUT_S = 60


def create_app(apps, environment, name, body=None):
    return apps.container_apps.begin_create_or_update(
        environment.resource_group, name, body or app_body(environment)
    ).result()


def wait_ready(cloud, fqdn: str) -> None:
    def ready():
        try:
            return cloud.https_get(f"https://{fqdn}/ready", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(ready, READY_TIMEOUT_S, what=f"https://{fqdn}/ready")


def pid_of(cloud, fqdn: str) -> int:
    return int(cloud.https_get(f"https://{fqdn}/pid").text)
