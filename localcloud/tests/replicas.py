"""Container apps for the localcloud tests: a small HTTP server standing in for an image's program,
the environment it runs in, and helpers to create one and wait for it."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from localcloud.testing import Cloud, unique, wait_until

# A container command standing in for an image: a small HTTP server on $PORT.
REPLICA_SERVER = r"""
import http.server, json, os, select, socket, sys, tempfile, threading, time
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
        elif self.path == "/whoami":
            me = {"pid": os.getpid(), "hostname": os.environ.get("HOSTNAME"), "tmpdir": tempfile.gettempdir(),
                  "python": sys.executable, "gone": os.path.exists(os.path.join(tempfile.gettempdir(), "gone")),
                  "no_proxy": os.environ.get("NO_PROXY", "")}
            self.reply(json.dumps(me).encode(), "application/json")
        elif self.path == "/think":
            # Answers nothing until the client goes away (its connection reads as closed) or 30 s pass:
            # a long completion whose client gave up.
            for _ in range(300):
                if select.select([self.connection], [], [], 0.1)[0] and not self.connection.recv(1, socket.MSG_PEEK):
                    open(os.path.join(tempfile.gettempdir(), "gone"), "w").close()
                    return
            self.reply(b"done")
        elif self.path == "/hold":
            # Streams a tick every 0.1 s until writing fails: the client (through ingress) went away.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b"data: tick\n\n")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                open(os.path.join(tempfile.gettempdir(), "gone"), "w").close()
            self.close_connection = True
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
                    "image": "python:3.11-slim",
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


def whoami(cloud, fqdn: str) -> dict:
    """The replica answering at fqdn: its pid, HOSTNAME, temporary folder and interpreter."""
    return cloud.https_get(f"https://{fqdn}/whoami").json()


def replica_of(cloud, fqdn: str) -> str:
    return whoami(cloud, fqdn)["hostname"]
