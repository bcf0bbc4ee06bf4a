"""Role assignments and the built-in role definitions they name (state and checks, no HTTP).

Only the roles the product and its tests use are defined; their ids and data actions are Azure's
built-in ones (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
"""

from __future__ import annotations

import copy
import re
import uuid

from localcloud.arm.exceptions import ArmError, invalid_request
from localcloud.arm.models import ArmBackend, utc_now

ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"
_FILES = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files"
FILE_READ = f"{_FILES}/read"
FILE_WRITE = f"{_FILES}/write"
PRIVILEGED_CONTRIBUTOR = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
PRIVILEGED_READER = "b8eda974-7b85-4f76-af95-65846b26df6d"

# id -> (roleName, actions, dataActions)
BUILT_IN_ROLES: dict[str, tuple[str, list[str], list[str]]] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("Owner", ["*"], []),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("Contributor", ["*"], []),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", ["*/read"], []),
    PRIVILEGED_CONTRIBUTOR: (
        "Storage File Data Privileged Contributor",
        [],
        [FILE_READ, FILE_WRITE, f"{_FILES}/delete", f"{_FILES}/modifypermissions/action",
         f"{_FILES}/readFileBackupSemantics/action", f"{_FILES}/writeFileBackupSemantics/action"],
    ),
    PRIVILEGED_READER: (
        "Storage File Data Privileged Reader",
        [],
        [FILE_READ, f"{_FILES}/readFileBackupSemantics/action"],
    ),
}


def _within(resource_id: str, scope: str) -> bool:
    """Is resource_id the scope itself or below it (ids compare without regard to case)?"""
    resource_id, scope = resource_id.lower().rstrip("/"), scope.lower().rstrip("/")
    return resource_id == scope or resource_id.startswith(scope + "/")


class RoleAssignments:
    def __init__(self, backend: ArmBackend):
        self.backend = backend

    @property
    def records(self) -> dict[str, dict]:
        return self.backend.state.section("roleAssignments")

    # -- role definitions ------------------------------------------------------------------------
    def definition(self, role_id: str) -> dict:
        guid = role_id.rstrip("/").rsplit("/", 1)[-1].lower()
        if guid not in BUILT_IN_ROLES:
            raise ArmError(
                404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' does not exist."
            )
        name, actions, data_actions = BUILT_IN_ROLES[guid]
        return {
            "id": f"/subscriptions/{self.backend.context.subscription_id}/providers/{DEFINITION_TYPE}/{guid}",
            "name": guid,
            "type": DEFINITION_TYPE,
            "properties": {
                "roleName": name,
                "type": "BuiltInRole",
                "description": name,
                "assignableScopes": ["/"],
                "permissions": [
                    {"actions": actions, "notActions": [], "dataActions": data_actions, "notDataActions": []}
                ],
            },
        }

    def list_definitions(self, filter_text: str | None) -> list[dict]:
        wanted = re.search(r"roleName eq '([^']*)'", filter_text or "")
        views = [self.definition(guid) for guid in BUILT_IN_ROLES]
        if wanted:
            views = [v for v in views if v["properties"]["roleName"].lower() == wanted.group(1).lower()]
        return views

    # -- role assignments ------------------------------------------------------------------------
    def _id(self, scope: str, name: str) -> str:
        return f"{scope}/providers/{ASSIGNMENT_TYPE}/{name}"

    def put(self, scope: str, name: str, body: dict) -> tuple[dict, bool]:
        properties = (body or {}).get("properties") or {}
        principal, role_id = properties.get("principalId"), properties.get("roleDefinitionId")
        if not principal or not role_id:
            raise invalid_request("properties.principalId and properties.roleDefinitionId are required.")
        try:
            uuid.UUID(name)
        except ValueError:
            raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid. "
                           "The role assignment ID must be a GUID.") from None
        role = self.definition(role_id)
        with self.backend.state.lock:
            key = self._id(scope, name).lower()
            existing = self.records.get(key)
            for other_key, other in self.records.items():
                same = (other["properties"]["scope"].lower(), other["properties"]["principalId"],
                        other["properties"]["roleDefinitionId"].lower())
                if other_key != key and same == (scope.lower(), principal, role["id"].lower()):
                    raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
            record = existing or {"id": self._id(scope, name), "name": name, "type": ASSIGNMENT_TYPE}
            record["properties"] = {
                "roleDefinitionId": role["id"],
                "principalId": principal,
                "principalType": properties.get("principalType", "ServicePrincipal"),
                "scope": scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": (existing or {}).get("properties", {}).get("createdOn", utc_now()),
                "updatedOn": utc_now(),
                "createdBy": self.backend.context.subscription_id,
                "updatedBy": self.backend.context.subscription_id,
                "delegatedManagedIdentityResourceId": None,
                "description": properties.get("description"),
            }
            self.records[key] = record
            self.backend.state.save()
            return copy.deepcopy(record), existing is None

    def get(self, scope: str, name: str) -> dict:
        record = self.records.get(self._id(scope, name).lower())
        if record is None:
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return copy.deepcopy(record)

    def delete(self, scope: str, name: str) -> dict | None:
        with self.backend.state.lock:
            record = self.records.pop(self._id(scope, name).lower(), None)
            self.backend.state.save()
        return record

    def list(self, scope: str, filter_text: str | None) -> list[dict]:
        """At the scope and above (inherited), and with no atScope() also below it."""
        filter_text = filter_text or ""
        principal = re.search(r"(?:principalId eq |assignedTo\()'([^']*)'", filter_text)
        at_scope = "atScope()" in filter_text
        found = []
        for record in self.records.values():
            where = record["properties"]["scope"]
            if not (_within(scope, where) or (not at_scope and _within(where, scope))):
                continue
            if principal and record["properties"]["principalId"] != principal.group(1):
                continue
            found.append(copy.deepcopy(record))
        return found

    # -- checks by the data planes ---------------------------------------------------------------
    def allows(self, principal: str, resource_id: str, data_action: str) -> bool:
        """Does a role assigned to principal at resource_id or above grant data_action?"""
        for record in self.records.values():
            properties = record["properties"]
            if properties["principalId"] != principal or not _within(resource_id, properties["scope"]):
                continue
            guid = properties["roleDefinitionId"].rsplit("/", 1)[-1].lower()
            if data_action in BUILT_IN_ROLES.get(guid, ("", [], []))[2]:
                return True
        return False
