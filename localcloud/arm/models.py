"""ARM control plane state and behaviour (no HTTP here): subscriptions, resource groups, resources.

Each resource type is a ResourceKind; the backend routes ids to kinds, stores records in the state
file and implements the template engine's ResourceProvider protocol.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from localcloud.arm.exceptions import (
    ArmError,
    invalid_request,
    no_registered_provider,
    resource_group_not_found,
    resource_not_found,
    subscription_not_found,
)
from localcloud.arm.ids import ResourceId, parse_resource_id
from localcloud.faults import Faults
from localcloud.state import StateFile

# Keys of a template resource that are template syntax, not part of the resource body ARM receives.
_TEMPLATE_ONLY_KEYS = {"type", "apiVersion", "name", "dependsOn", "condition", "copy", "comments", "scope"}


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class CloudContext:
    base_url: str  # https://127.0.0.1:<port>
    subscription_id: str
    tenant_id: str
    location: str = "eastus"


class ResourceKind:
    """Behaviour of one resource type; subclasses override what differs from a plain tracked resource."""

    type_name: ClassVar[str]
    # How a PUT/DELETE answers: None (synchronously), "async" (201 + Azure-AsyncOperation, as Microsoft.App
    # does) or "location" (202 + Location, no body, as Microsoft.Storage does).
    lro: ClassVar[str | None] = None
    creatable: ClassVar[bool] = True
    created_status: ClassVar[int] = 201  # some APIs answer a synchronous create with 200
    # POST actions: the action's name in the URL -> the method (record, body) -> response body
    actions: ClassVar[dict[str, str]] = {}

    def __init__(self, backend: ArmBackend):
        self.backend = backend

    # -- lifecycle -------------------------------------------------------------------------------
    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        record = self.backend.base_record(rid, body, existing)
        record["properties"] = {
            **(existing or {}).get("properties", {}),
            **body.get("properties", {}),
            "provisioningState": "Succeeded",
        }
        return record

    def delete(self, record: dict) -> None:
        """Side effects of deleting (processes, data); the record itself is removed by the backend."""

    # -- reads -----------------------------------------------------------------------------------
    def view(self, record: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in record.items() if k != "secrets"}

    def get_record(self, rid: ResourceId) -> dict | None:
        return self.backend.records.get(rid.key)

    def list_records(self, parent: ResourceId | None, subscription: str, resource_group: str | None) -> list[dict]:
        return self.backend.stored_records(self.type_name, parent, resource_group)



class ArmBackend:
    def __init__(self, state: StateFile, context: CloudContext, faults: Faults):
        self.state = state
        self.context = context
        self.faults = faults
        self.kinds: dict[str, ResourceKind] = {}

    def register(self, *kinds: ResourceKind) -> None:
        for kind in kinds:
            self.kinds[kind.type_name.lower()] = kind

    @property
    def records(self) -> dict[str, dict]:
        return self.state.section("resources")

    @property
    def groups(self) -> dict[str, dict]:
        return self.state.section("resourceGroups")

    # -- subscriptions and tenants ---------------------------------------------------------------
    def subscription(self, subscription_id: str) -> dict:
        self.check_subscription(subscription_id)
        sub = self.context.subscription_id
        return {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "tenantId": self.context.tenant_id,
            "displayName": "localcloud",
            "state": "Enabled",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }

    def check_subscription(self, subscription_id: str) -> None:
        if subscription_id.lower() != self.context.subscription_id.lower():
            raise subscription_not_found(subscription_id)

    def tenants(self) -> list[dict]:
        tenant = self.context.tenant_id
        return [
            {
                "id": f"/tenants/{tenant}",
                "tenantId": tenant,
                "tenantCategory": "Home",
                "displayName": "localcloud",
                "defaultDomain": "localcloud.onmicrosoft.com",
            }
        ]

    def providers(self) -> list[dict]:
        namespaces: dict[str, list[dict]] = {}
        for kind in self.kinds.values():
            namespace, _, resource_type = kind.type_name.partition("/")
            namespaces.setdefault(namespace, []).append(
                {"resourceType": resource_type, "locations": [self.location_display()], "apiVersions": []}
            )
        namespaces.setdefault("Microsoft.Resources", []).append(
            {"resourceType": "deployments", "locations": [self.location_display()], "apiVersions": []}
        )
        return [
            {
                "id": f"/subscriptions/{self.context.subscription_id}/providers/{ns}",
                "namespace": ns,
                "registrationState": "Registered",
                "registrationPolicy": "RegistrationRequired",
                "resourceTypes": types,
            }
            for ns, types in sorted(namespaces.items())
        ]

    def provider(self, namespace: str) -> dict:
        for provider in self.providers():
            if provider["namespace"].lower() == namespace.lower():
                return provider
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")

    def location_display(self) -> str:
        return "East US" if self.context.location == "eastus" else self.context.location

    # -- resource groups -------------------------------------------------------------------------
    def put_group(self, subscription: str, name: str, body: dict) -> tuple[dict, bool]:
        self.check_subscription(subscription)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        with self.state.lock:
            existing = self.groups.get(name.lower())
            group = existing or {
                "id": f"/subscriptions/{self.context.subscription_id}/resourceGroups/{name}",
                "name": name,
                "type": "Microsoft.Resources/resourceGroups",
                "location": location.lower().replace(" ", ""),
                "properties": {"provisioningState": "Succeeded"},
            }
            if existing and existing["location"] != location.lower().replace(" ", ""):
                raise ArmError(
                    409,
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{location}'. The Resource group already exists "
                    f"in location '{existing['location']}'.",
                )
            group["tags"] = body.get("tags") or group.get("tags") or {}
            self.groups[name.lower()] = group
            self.state.save()
        return copy.deepcopy(group), existing is None

    def get_group(self, subscription: str, name: str) -> dict:
        self.check_subscription(subscription)
        group = self.groups.get(name.lower())
        if group is None:
            raise resource_group_not_found(name)
        return copy.deepcopy(group)

    def list_groups(self, subscription: str) -> list[dict]:
        self.check_subscription(subscription)
        return [copy.deepcopy(g) for g in self.groups.values()]

    def delete_group(self, subscription: str, name: str) -> None:
        self.get_group(subscription, name)
        with self.state.lock:
            prefix = f"/subscriptions/{self.context.subscription_id}/resourcegroups/{name}/".lower()
            # Deepest first, then apps before the environments they run in.
            doomed = sorted(
                (k for k in self.records if k.startswith(prefix)),
                key=lambda k: (-k.count("/"), "containerapps" not in k),
            )
            for key in doomed:
                record = self.records.get(key)
                if record is not None:
                    self.kind_of(record["type"]).delete(record)
                    self.records.pop(key, None)
            self.groups.pop(name.lower(), None)
            self.state.pop_section_entries("deployments", prefix)
            self.state.save()

    # -- resources -------------------------------------------------------------------------------
    def kind_of(self, resource_type: str, api_version: str | None = None) -> ResourceKind:
        kind = self.kinds.get(resource_type.lower())
        if kind is None:
            raise no_registered_provider(resource_type, api_version, self.context.location)
        return kind

    def base_record(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        record = copy.deepcopy(existing) if existing else {"id": str(rid), "name": rid.name, "type": rid.type}
        group_location = self.groups[rid.resource_group.lower()]["location"]
        for key in ("location", "tags", "kind", "sku", "identity"):
            if key in body:
                record[key] = body[key]
        if "location" in record or rid.parent is None:
            record["location"] = normal_location(record.get("location") or group_location)
        record.setdefault("systemData", {"createdAt": utc_now(), "createdByType": "Application"})
        record["systemData"]["lastModifiedAt"] = utc_now()
        return record

    def _require_parents(self, rid: ResourceId) -> None:
        self.get_group(rid.subscription, rid.resource_group)
        parent = rid.parent
        if parent is not None and self.kind_of(parent.type).get_record(parent) is None:
            raise resource_not_found(parent.type, "/".join(parent.names), rid.resource_group)

    def put(self, rid: ResourceId, body: dict, api_version: str | None, patch: bool = False) -> tuple[dict, bool]:
        kind = self.kind_of(rid.type, api_version)
        if not isinstance(body, dict):
            raise invalid_request("The request content must be a JSON object.")
        if not kind.creatable:
            raise ArmError(405, "MethodNotAllowed", f"Resources of type '{rid.type}' cannot be created directly.")
        injected = self.faults.arm_fault("PATCH" if patch else "PUT", rid.type)
        if injected:
            raise ArmError(injected.status, injected.code, injected.message)
        body = {k: v for k, v in body.items() if k not in _TEMPLATE_ONLY_KEYS}
        with self.state.lock:
            self._require_parents(rid)
            existing = kind.get_record(rid)
            if patch:
                if existing is None:
                    raise resource_not_found(rid.type, rid.name, rid.resource_group)
                body = _merge(kind.view(existing), body)
            if existing and "location" in existing and "location" in body:
                check_same_location(rid, existing["location"], body["location"])
            record = kind.create_or_update(rid, body, existing)
            self.records[rid.key] = record
            self.state.save()
            return kind.view(record), existing is None

    def get(self, rid: ResourceId, api_version: str | None = None) -> dict:
        kind = self.kind_of(rid.type, api_version)
        with self.state.lock:
            self.get_group(rid.subscription, rid.resource_group)
            record = kind.get_record(rid)
            if record is None:
                raise resource_not_found(rid.type, "/".join(rid.names), rid.resource_group)
            return kind.view(record)

    def delete(self, rid: ResourceId, api_version: str | None = None) -> bool:
        kind = self.kind_of(rid.type, api_version)
        injected = self.faults.arm_fault("DELETE", rid.type)
        if injected:
            raise ArmError(injected.status, injected.code, injected.message)
        with self.state.lock:
            self.get_group(rid.subscription, rid.resource_group)
            record = kind.get_record(rid)
            if record is None:
                return False
            child_prefix = rid.key + "/"
            for key in sorted((k for k in self.records if k.startswith(child_prefix)), key=lambda k: -k.count("/")):
                child = self.records.pop(key)
                self.kind_of(child["type"]).delete(child)
            kind.delete(record)
            self.records.pop(rid.key, None)
            self.state.save()
            return True

    def list(
        self,
        resource_type: str,
        parent: ResourceId | None,
        subscription: str,
        resource_group: str | None,
        api_version: str | None = None,
    ) -> list[dict]:
        kind = self.kind_of(resource_type, api_version)
        self.check_subscription(subscription)
        with self.state.lock:
            if resource_group is not None:
                self.get_group(subscription, resource_group)
            if parent is not None and self.kind_of(parent.type).get_record(parent) is None:
                raise resource_not_found(parent.type, "/".join(parent.names), parent.resource_group)
            return [kind.view(r) for r in kind.list_records(parent, subscription, resource_group)]

    def list_group_resources(self, subscription: str, resource_group: str) -> list[dict]:
        self.get_group(subscription, resource_group)
        prefix = f"/subscriptions/{subscription}/resourcegroups/{resource_group}/".lower()
        with self.state.lock:
            return [self.kind_of(r["type"]).view(r) for k, r in self.records.items() if k.startswith(prefix)]

    def action(self, rid: ResourceId, action: str, body: dict, api_version: str | None = None) -> dict:
        kind = self.kind_of(rid.type, api_version)
        method = {name.lower(): method for name, method in kind.actions.items()}.get(action.lower())
        if method is None:
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type '{rid.type}/{action}' could not be found in the namespace "
                f"'{rid.namespace}' for api version '{api_version}'.",
            )
        with self.state.lock:
            self.get_group(rid.subscription, rid.resource_group)
            record = kind.get_record(rid)
            if record is None:
                raise resource_not_found(rid.type, "/".join(rid.names), rid.resource_group)
            result = getattr(kind, method)(record, body or {})
            self.state.save()
            return result

    def stored_records(self, resource_type: str, parent: ResourceId | None, resource_group: str | None) -> list[dict]:
        if parent is not None:
            prefix = parent.key + "/"
        elif resource_group is not None:
            prefix = f"/subscriptions/{self.context.subscription_id}/resourcegroups/{resource_group}/".lower()
        else:
            prefix = f"/subscriptions/{self.context.subscription_id}/".lower()
        return [
            r for k, r in self.records.items() if k.startswith(prefix) and r["type"].lower() == resource_type.lower()
        ]

    # -- the template engine's ResourceProvider protocol -----------------------------------------
    def put_resource(self, resource_id: str, api_version: str, body: dict) -> dict:
        view, _ = self.put(parse_resource_id(resource_id), body, api_version)
        return view

    def get_resource(self, resource_id: str, api_version: str | None) -> dict:
        try:
            return self.get(parse_resource_id(resource_id), api_version)
        except ArmError as exc:
            if exc.status == 404:
                raise LookupError(exc.message) from exc
            raise

    def invoke_action(self, resource_id: str, action: str, api_version: str) -> dict:
        return self.action(parse_resource_id(resource_id), action, {}, api_version)


def normal_location(location: Any) -> str:
    return str(location).lower().replace(" ", "")


def check_same_location(rid: ResourceId, current: str, asked: Any) -> None:
    """A tracked resource never moves by a PUT with another location; the message is ARM's (quoted in
    MicrosoftDocs/azure-docs#70422 and fortinetsolutions/Azure-Templates#8)."""
    if normal_location(asked) != normal_location(current):
        raise ArmError(
            400,
            "InvalidResourceLocation",
            f"The resource '{rid.name}' already exists in location '{current}' in resource group "
            f"'{rid.resource_group}'. A resource with the same name cannot be created in location "
            f"'{asked}'. Please select a new resource name.",
        )


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386), what ARM PATCH does."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(base.get(key), value)
    return merged


def new_guid() -> str:
    return str(uuid.uuid4())
