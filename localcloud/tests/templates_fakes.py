"""An in-memory stand-in for ARM's resource providers, for the template engine's tests."""

from __future__ import annotations

import copy

from localcloud.arm.exceptions import ArmError
from localcloud.templates import DeploymentScope

SCOPE = DeploymentScope(
    subscription_id="00000000-0000-0000-0000-000000000001",
    tenant_id="00000000-0000-0000-0000-0000000000aa",
    resource_group="rg-test",
    location="westus3",
    deployment_name="dep-test",
)
RG_ID = f"/subscriptions/{SCOPE.subscription_id}/resourceGroups/{SCOPE.resource_group}"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def template(**parts) -> dict:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [], **parts}


def rid(resource_type: str, *names: str) -> str:
    namespace, *types = resource_type.split("/")
    pairs = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"{RG_ID}/providers/{namespace}/{pairs}"


class MemoryProvider:
    """Resources kept in a dict; children need their parent; a few types get computed properties."""

    def __init__(self):
        self.resources: dict[str, dict] = {}
        self.puts: list[str] = []  # ids in the order they were PUT
        self.bodies: dict[str, dict] = {}  # last PUT body per id

    def add_existing(self, resource_id: str, resource: dict) -> None:
        self.resources[resource_id.lower()] = {"id": resource_id, **resource}

    def put_resource(self, resource_id: str, api_version: str, body: dict) -> dict:
        parent = resource_id.rsplit("/", 2)[0]
        is_child = parent.split("/providers/")[-1].count("/") >= 2
        if is_child and parent.lower() not in self.resources:
            raise ArmError(404, "ParentResourceNotFound", f"Parent resource '{parent}' not found.")
        if body.get("properties", {}).get("rejectMe"):
            raise ArmError(400, "InvalidResourceProperties", "The property 'rejectMe' is not allowed.")
        self.puts.append(resource_id)
        self.bodies[resource_id] = copy.deepcopy(body)
        resource = {
            "id": resource_id,
            "name": resource_id.rsplit("/", 1)[1],
            "apiVersion": api_version,
            **copy.deepcopy(body),
        }
        properties = resource.setdefault("properties", {})
        properties["provisioningState"] = "Succeeded"
        if "/storageAccounts/" in resource_id and resource_id.count("/") == 8:
            properties["primaryEndpoints"] = {"file": f"https://127.0.0.1:1/{resource['name']}/"}
        if "/workspaces/" in resource_id:
            properties["customerId"] = f"customer-{resource['name']}"
        if "/containerApps/" in resource_id:
            ingress = properties.setdefault("configuration", {}).setdefault("ingress", {})
            ingress["fqdn"] = f"{resource['name']}.apps.localtest"
        self.resources[resource_id.lower()] = resource
        return resource

    def get_resource(self, resource_id: str, api_version: str | None) -> dict:
        return copy.deepcopy(self.resources[resource_id.lower()])  # KeyError is a LookupError

    def invoke_action(self, resource_id: str, action: str, api_version: str) -> dict:
        if resource_id.lower() not in self.resources:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{resource_id}' was not found.")
        name = resource_id.rsplit("/", 1)[1]
        if action == "listKeys" and "/workspaces/" in resource_id:
            return {"primarySharedKey": f"shared-{name}", "secondarySharedKey": f"shared2-{name}"}
        if action == "listKeys":
            return {"keys": [{"keyName": "key1", "value": f"key1-{name}", "permissions": "FULL"}]}
        raise ArmError(404, "InvalidAction", f"The action '{action}' is not supported.")
