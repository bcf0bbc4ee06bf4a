"""Microsoft.App/containerApps, their revisions and replicas; active revisions run as local processes."""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import secrets
import string
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from localcloud.arm.exceptions import ArmError, invalid_request
from localcloud.arm.ids import ResourceId, parse_resource_id
from localcloud.arm.models import ArmBackend, ResourceKind, utc_now
from localcloud.containerapps import images, limits
from localcloud.containerapps.environments import ENVIRONMENT_TYPE, STORAGE_TYPE
from localcloud.containerapps.images import Image
from localcloud.containerapps.limits import PROFILE_TYPES
from localcloud.containerapps.network import replica_network_environment
from localcloud.containerapps.runtime import Probe, Replica, ReplicaSpec, Runtime, free_port
from localcloud.containerapps.standins import pip_cache
from localcloud.identity.models import TokenIssuer
from localcloud.state import StateDir

APP_TYPE = "Microsoft.App/containerApps"
REVISION_TYPE = "Microsoft.App/containerApps/revisions"
REPLICA_TYPE = "Microsoft.App/containerApps/revisions/replicas"
# A Debian image's PATH; the image's stand-in goes in front of it.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _random_suffix(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _mount_pattern(mount_path: str) -> re.Pattern:
    """The mount path as a whole path prefix: '/mount' in '/mount/x' but not in '/mountain' or '/a/mount'."""
    return re.compile(r"(?<![\w./-])" + re.escape(mount_path.rstrip("/")) + r"(?=/|$|[^\w.-])")


def _substitute(text: str, mounts: dict[str, Path]) -> str:
    for mount_path, host_path in mounts.items():
        text = _mount_pattern(mount_path).sub(lambda _m, p=str(host_path): p, text)
    return text


def _probes(container: dict) -> list[Probe]:
    probes = []
    for probe in container.get("probes") or []:
        http_get = probe.get("httpGet")
        probes.append(
            Probe(
                type=probe.get("type", "Liveness").capitalize(),
                http_path=(http_get.get("path") or "/") if http_get else None,
                initial_delay=float(probe.get("initialDelaySeconds", 0)),
                period=float(probe.get("periodSeconds", 10)),
                failure_threshold=int(probe.get("failureThreshold", 3)),
                timeout=float(probe.get("timeoutSeconds", 1)),
            )
        )
    return probes


class ContainerApps(ResourceKind):
    type_name = APP_TYPE
    lro = "async"

    def __init__(
        self,
        backend: ArmBackend,
        runtime: Runtime,
        files,
        state_dir: StateDir,
        ingress: Callable[[str, int | None], None],
        issuer: TokenIssuer,
    ):
        super().__init__(backend)
        self.runtime = runtime
        self.files = files
        self.state_dir = state_dir
        self.ingress = ingress
        self.issuer = issuer

    @property
    def ports(self) -> dict[str, int]:
        return self.backend.state.section("ingressPorts")

    # -- validation ------------------------------------------------------------------------------
    @staticmethod
    def _profile_type(env: dict, properties: dict) -> str:
        """The workload profile type the app runs on (Consumption when it names none)."""
        wanted = properties.get("workloadProfileName")
        for profile in env["properties"].get("workloadProfiles") or []:
            if wanted and profile["name"] == wanted:
                return next(t for t in PROFILE_TYPES if t.lower() == profile["workloadProfileType"].lower())
        return "Consumption"

    def _environment(self, properties: dict) -> dict:
        env_id = properties.get("managedEnvironmentId") or properties.get("environmentId")
        if not env_id:
            raise invalid_request("properties.managedEnvironmentId is required: the id of a managed environment.")
        env = self.backend.records.get(parse_resource_id(env_id).key)
        if env is None or env["type"] != ENVIRONMENT_TYPE:
            raise ArmError(404, "ManagedEnvironmentNotFound", f"The managed environment '{env_id}' was not found.")
        profile = properties.get("workloadProfileName")
        names = [p["name"] for p in env["properties"].get("workloadProfiles") or []]
        if profile and profile not in names:
            raise ArmError(
                400,
                "WorkloadProfileNameNotFound",
                f"properties.workloadProfileName '{profile}' is not a workload profile of environment "
                f"'{env['name']}' (it has: {', '.join(names) or 'none'}).",
            )
        return env

    @staticmethod
    def _check_template(template: dict, secret_names: set[str], storage_names: set[str]) -> None:
        containers = template.get("containers") or []
        if not containers:
            raise invalid_request("properties.template.containers must list at least one container.")
        volumes = {v.get("name"): v for v in template.get("volumes") or []}
        for i, volume in enumerate(volumes.values()):
            if volume.get("storageType") == "AzureFile" and volume.get("storageName") not in storage_names:
                raise ArmError(
                    400,
                    "ContainerAppVolumeStorageNotFound",
                    f"properties.template.volumes[{i}].storageName '{volume.get('storageName')}' is not a "
                    "storage of the managed environment: add it with managedEnvironments/storages.",
                )
        for i, container in enumerate(containers):
            where = f"properties.template.containers[{i}]"
            if not container.get("name") or not container.get("image"):
                raise invalid_request(f"{where} needs a 'name' and an 'image'.")
            limits.check_probes(container)
            for var in container.get("env") or []:
                if "secretRef" in var and var["secretRef"] not in secret_names:
                    raise ArmError(
                        400,
                        "ContainerAppSecretRefNotFound",
                        f"{where}.env '{var.get('name')}' refers to secret '{var['secretRef']}', "
                        "which is not in properties.configuration.secrets.",
                    )
            for mount in container.get("volumeMounts") or []:
                if mount.get("volumeName") not in volumes:
                    raise invalid_request(
                        f"{where}.volumeMounts: volume '{mount.get('volumeName')}' is not in "
                        "properties.template.volumes."
                    )

    # -- create/update ---------------------------------------------------------------------------
    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        properties = copy.deepcopy(body.get("properties") or {})
        env = self._environment(properties)
        record = self.backend.base_record(rid, body, existing)
        configuration = properties.setdefault("configuration", {})
        old_values = ((existing or {}).get("secrets") or {}).get("values", {})
        values = {}
        for secret in configuration.get("secrets") or []:
            if secret.get("keyVaultUrl"):
                raise invalid_request(
                    f"secret '{secret.get('name')}': Key Vault secrets are not emulated; give a 'value'."
                )
            values[secret["name"]] = secret.get("value", old_values.get(secret["name"]))
        configuration["secrets"] = [{"name": name} for name in values]
        storages = {r["name"] for r in self.backend.stored_records(STORAGE_TYPE, parse_resource_id(env["id"]), None)}
        template = properties.get("template") or {}
        self._check_template(template, set(values), storages)
        limits.check_resources(template["containers"], self._profile_type(env, properties))
        env_id = parse_resource_id(env["id"])
        for volume in template.get("volumes") or []:
            if volume.get("storageType") == "AzureFile":
                self._check_storage_key(self.backend.records[env_id.child("storages", volume["storageName"]).key])
        configuration.setdefault("activeRevisionsMode", "Single")
        record["secrets"] = {"values": values}
        ingress = configuration.get("ingress")
        if ingress:
            port = self.ports.setdefault(rid.key, free_port())
            ingress["fqdn"] = f"127.0.0.1:{port}"
            ingress.setdefault("traffic", [{"latestRevision": True, "weight": 100}])
        else:
            self.ports.pop(rid.key, None)
        base = self.backend.context.base_url
        properties.update(
            {
                "provisioningState": "Succeeded",
                "runningStatus": "Running",
                "managedEnvironmentId": env["id"],
                "environmentId": env["id"],
                "outboundIpAddresses": ["127.0.0.1"],
                "customDomainVerificationId": env["properties"]["customDomainConfiguration"][
                    "customDomainVerificationId"
                ],
                "eventStreamEndpoint": f"{base}{_data_path(rid)}/eventstream",
            }
        )
        record["properties"] = properties
        self.backend.records[rid.key] = record
        self._roll_revision(rid, record, existing)
        self.ingress(rid.key, self.ports.get(rid.key))
        return record

    def _roll_revision(self, rid: ResourceId, record: dict, existing: dict | None) -> None:
        properties = record["properties"]
        template = properties.get("template") or {}
        latest = (existing or {}).get("properties", {}).get("latestRevisionName")
        latest_record = self.backend.records.get(rid.child("revisions", latest).key) if latest else None
        if latest_record is not None and _same(latest_record["properties"]["template"], template):
            properties["latestRevisionName"] = latest
            properties["latestReadyRevisionName"] = existing["properties"].get("latestReadyRevisionName")
            properties["latestRevisionFqdn"] = latest_record["properties"]["fqdn"]
            return
        name = f"{rid.name}--{template.get('revisionSuffix') or _random_suffix(7)}"
        if self.backend.records.get(rid.child("revisions", name).key) is not None:
            raise ArmError(
                400,
                "ContainerAppRevisionSuffixConflict",
                f"Revision '{name}' already exists: change properties.template.revisionSuffix.",
            )
        if properties["configuration"]["activeRevisionsMode"].lower() == "single":
            for revision in self.backend.stored_records(REVISION_TYPE, rid, None):
                self.set_active(revision, False)
        revision_id = rid.child("revisions", name)
        self.backend.records[revision_id.key] = {
            "id": str(revision_id),
            "name": name,
            "type": REVISION_TYPE,
            "properties": {
                "createdTime": utc_now(),
                "template": copy.deepcopy(template),
                "active": False,
                "fqdn": (properties["configuration"].get("ingress") or {}).get("fqdn", ""),
                "trafficWeight": 100,
            },
        }
        properties.update(
            {
                "latestRevisionName": name,
                "latestRevisionFqdn": self.backend.records[revision_id.key]["properties"]["fqdn"],
            }
        )
        properties.setdefault("latestReadyRevisionName", None)
        self.set_active(self.backend.records[revision_id.key], True)

    # -- revisions at runtime --------------------------------------------------------------------
    def set_active(self, revision: dict, active: bool) -> None:
        key = revision["id"].lower()
        self.runtime.stop_revision(key)
        revision["properties"]["active"] = active
        if active:
            self.start_replica(revision)

    def start_replica(self, revision: dict) -> Replica:
        revision_id = parse_resource_id(revision["id"])
        app = self.backend.records[revision_id.parent.key]
        env = self.backend.records[parse_resource_id(app["properties"]["managedEnvironmentId"]).key]
        container = revision["properties"]["template"]["containers"][0]
        name = f"{revision['name']}-{_random_suffix(10)}-{_random_suffix(5)}"
        folder = self.state_dir.replicas / name
        folder.mkdir(parents=True, exist_ok=True)
        layer = self.state_dir.layers / name / "ephemeral"
        port = free_port()
        mounts = self._mounts(revision["properties"]["template"], container, env, folder)
        image = images.find(container["image"])
        spec = ReplicaSpec(
            app_key=revision_id.parent.key,
            revision_key=revision_id.key,
            app=app["name"],
            revision=revision["name"],
            name=name,
            container=container["name"],
            image=container["image"],
            stand_in=image,
            argv=[_substitute(a, mounts) for a in (container.get("command") or []) + (container.get("args") or [])],
            env=self._environment_variables(app, revision, container, name, port, mounts, layer, image),
            probes=_probes(container),
            ephemeral=layer,
            log_path=folder / "console.log",
            system_log_path=self.state_dir.replicas / f"{app['name']}.system.log",
        )
        if not spec.argv:
            raise invalid_request(
                f"container '{container['name']}': localcloud runs an image's stand-in, not its entrypoint, "
                "so the container needs a 'command' (and 'args')."
            )
        return self.runtime.start(spec, port)

    def _mounts(self, template: dict, container: dict, env: dict, folder: Path) -> dict[str, Path]:
        volumes = {v["name"]: v for v in template.get("volumes") or []}
        env_id = parse_resource_id(env["id"])
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["volumeName"]]
            if volume.get("storageType") == "AzureFile":
                storage = self.backend.records[env_id.child("storages", volume["storageName"]).key]
                azure_file = storage["properties"]["azureFile"]
                host = self.files.share_path(azure_file["accountName"], azure_file["shareName"])
            else:
                host = folder / "volumes" / volume["name"]
                host.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = Path(host)
        return mounts

    def _check_storage_key(self, storage: dict) -> None:
        azure_file = storage["properties"]["azureFile"]
        keys = self.backend.kinds["microsoft.storage/storageaccounts"].account_keys(azure_file["accountName"])
        given = base64.b64decode(storage["secrets"].get("accountKey", ""), validate=False)
        if not keys or given not in keys:
            raise ArmError(
                400,
                "ManagedEnvironmentStorageMountFailed",
                f"Environment storage '{storage['name']}' cannot mount share '{azure_file['shareName']}' "
                f"of account '{azure_file['accountName']}': the account or its key is wrong.",
            )
        if azure_file["shareName"] not in self.files.list_shares(azure_file["accountName"]):
            raise ArmError(
                400,
                "ManagedEnvironmentStorageMountFailed",
                f"Share '{azure_file['shareName']}' does not exist in account '{azure_file['accountName']}'.",
            )

    def _environment_variables(
        self,
        app: dict,
        revision: dict,
        container: dict,
        replica: str,
        port: int,
        mounts: dict[str, Path],
        layer: Path,
        image: Image | None,
    ) -> dict[str, str]:
        ingress = app["properties"]["configuration"].get("ingress") or {}
        env = {**replica_network_environment(), **(image.env if image else {})}
        env.update(
            {
                # The stand-in's bin/ goes in front once the image is pulled (runtime.Replica._pull).
                "PATH": _SYSTEM_PATH,
                "HOSTNAME": replica,
                "HOME": str(layer / "home"),
                "TMPDIR": str(layer / "tmp"),
                "PIP_CACHE_DIR": str(pip_cache()),
                "LANG": "C.UTF-8",
                "PYTHONUNBUFFERED": "1",
                "PORT": str(port),
                "CONTAINER_APP_NAME": app["name"],
                "CONTAINER_APP_REVISION": revision["name"],
                "CONTAINER_APP_REPLICA_NAME": replica,
                "CONTAINER_APP_PORT": str(ingress.get("targetPort", port)),
            }
        )
        secret_values = app["secrets"]["values"]
        for var in container.get("env") or []:
            value = secret_values.get(var["secretRef"]) if "secretRef" in var else var.get("value", "")
            env[var["name"]] = _substitute(str(value or ""), mounts)
        return env

    def resume(self) -> None:
        """After a restart of the local cloud: serve ingress again and start replicas of active revisions."""
        for app in self.backend.stored_records(APP_TYPE, None, None):
            self.ingress(app["id"].lower(), self.ports.get(app["id"].lower()))
        for revision in self.backend.stored_records(REVISION_TYPE, None, None):
            if revision["properties"]["active"]:
                self.start_replica(revision)

    # -- reads and actions -----------------------------------------------------------------------
    def view(self, record: dict) -> dict:
        view = super().view(record)
        ready = [
            r
            for r in self.backend.stored_records(REVISION_TYPE, parse_resource_id(record["id"]), None)
            if any(rep.ready for rep in self.runtime.replicas(r["id"].lower()))
        ]
        if ready:
            view["properties"]["latestReadyRevisionName"] = ready[-1]["name"]
        return view

    def delete(self, record: dict) -> None:
        self.ingress(record["id"].lower(), None)
        self.ports.pop(record["id"].lower(), None)

    actions: ClassVar[dict[str, str]] = {"getAuthToken": "_auth_token", "listSecrets": "_list_secrets"}

    def _auth_token(self, record: dict, body: dict) -> dict:
        token, expires_on = self.issuer.issue(record["id"])
        return {
            "id": record["id"],
            "name": record["name"],
            "type": record["type"],
            "location": record["location"],
            "properties": {"token": token, "expires": _iso(expires_on)},
        }

    @staticmethod
    def _list_secrets(record: dict, body: dict) -> dict:
        return {"value": [{"name": k, "value": v} for k, v in record["secrets"]["values"].items()]}


class Revisions(ResourceKind):
    type_name = REVISION_TYPE
    creatable = False

    def __init__(self, backend: ArmBackend, apps: ContainerApps):
        super().__init__(backend)
        self.apps = apps

    def view(self, record: dict) -> dict:
        view = super().view(record)
        properties = view["properties"]
        replicas = self.apps.runtime.replicas(record["id"].lower())
        # States are RevisionRunningState's values (Running, Processing, Stopped, Degraded, Failed, Unknown;
        # azure-cli's containerapp _sdk_enums.py).
        failed = [r for r in replicas if r.pull_failed or (r.restart_count and not r.ever_ready)]
        if not properties["active"]:
            state = ("Provisioned", "Stopped", "None")
        elif any(r.ready for r in replicas):
            state = ("Provisioned", "Running", "Healthy")
        elif failed:
            state = ("Failed", "Failed", "Unhealthy")
            properties["provisioningError"] = properties["runningStateDetails"] = failed[0].last_exit
        else:
            state = ("Provisioning", "Processing", "None")
        properties["provisioningState"], properties["runningState"], properties["healthState"] = state
        properties["replicas"] = len(replicas)
        properties["lastActiveTime"] = utc_now() if properties["active"] else properties["createdTime"]
        if not properties["active"]:
            properties["trafficWeight"] = 0
        return view

    def delete(self, record: dict) -> None:
        self.apps.runtime.stop_revision(record["id"].lower())

    actions: ClassVar[dict[str, str]] = {"restart": "_restart", "activate": "_activate", "deactivate": "_deactivate"}

    def _restart(self, record: dict, body: dict) -> dict:
        if not record["properties"]["active"]:
            raise ArmError(
                400,
                "ContainerAppRevisionNotActive",
                f"Revision '{record['name']}' is not active: activate it before restarting.",
            )
        self.apps.set_active(record, True)
        return {}

    def _activate(self, record: dict, body: dict) -> dict:
        self.apps.set_active(record, True)
        return {}

    def _deactivate(self, record: dict, body: dict) -> dict:
        self.apps.set_active(record, False)
        return {}


class Replicas(ResourceKind):
    type_name = REPLICA_TYPE
    creatable = False

    def __init__(self, backend: ArmBackend, runtime: Runtime):
        super().__init__(backend)
        self.runtime = runtime

    def _record(self, revision: ResourceId, replica: Replica) -> dict:
        rid = revision.child("replicas", replica.spec.name)
        app_path = _data_path(revision.parent)
        log_url = (
            f"{self.backend.context.base_url}{app_path}/revisions/{revision.name}/replicas/"
            f"{replica.spec.name}/containers/{replica.spec.container}/logstream"
        )
        running = "Running" if replica.running else "Waiting"
        return {
            "id": str(rid),
            "name": replica.spec.name,
            "type": REPLICA_TYPE,
            "properties": {
                "createdTime": replica.created,
                "runningState": "Running" if replica.running else "NotRunning",
                "runningStateDetails": replica.last_exit,
                "initContainers": [],
                "containers": [
                    {
                        "name": replica.spec.container,
                        "containerId": replica.spec.name,
                        "ready": replica.ready,
                        "started": replica.running,
                        "restartCount": replica.restart_count,
                        "runningState": running,
                        "runningStateDetails": replica.last_exit,
                        "logStreamEndpoint": log_url,
                        "execEndpoint": "",
                    }
                ],
            },
        }

    def get_record(self, rid: ResourceId) -> dict | None:
        for replica in self.runtime.replicas(rid.parent.key):
            if replica.spec.name == rid.name:
                return self._record(rid.parent, replica)
        return None

    def list_records(self, parent, subscription, resource_group):
        return [self._record(parent, r) for r in self.runtime.replicas(parent.key)]


def _data_path(rid: ResourceId) -> str:
    """Container Apps data-plane paths are the ARM id without '/providers/Microsoft.App'."""
    return str(rid).replace("/providers/Microsoft.App", "")


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")
