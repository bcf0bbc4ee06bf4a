"""Microsoft.Storage: storage accounts (keys, endpoints), file services and file shares."""

from __future__ import annotations

import base64
import re
import secrets
from typing import ClassVar

from localcloud.arm.exceptions import ArmError, invalid_request
from localcloud.arm.ids import ResourceId
from localcloud.arm.models import ArmBackend, ResourceKind, utc_now

ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_SHARE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def new_account_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


def account_name_problem(name: str) -> str | None:
    if _ACCOUNT_NAME.match(name):
        return None
    return (
        f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 "
        "characters in length and use numbers and lower-case letters only."
    )


class StorageAccounts(ResourceKind):
    type_name = ACCOUNT_TYPE
    lro = "location"

    def __init__(self, backend: ArmBackend, files):
        super().__init__(backend)
        self.files = files
        # Read by the Files data plane on the event loop, so it must not wait for the state lock:
        # a plain dict, replaced whole on every change.
        self._keys: dict[str, list[bytes]] = {
            r["name"]: self._decoded(r) for r in backend.stored_records(ACCOUNT_TYPE, None, None)
        }

    @staticmethod
    def _decoded(record: dict) -> list[bytes]:
        return [base64.b64decode(k["value"]) for k in record["secrets"]["keys"]]

    def _publish_keys(self, record: dict, present: bool = True) -> None:
        keys = dict(self._keys)
        if present:
            keys[record["name"]] = self._decoded(record)
        else:
            keys.pop(record["name"], None)
        self._keys = keys

    def find(self, account: str) -> dict | None:
        for record in self.backend.stored_records(ACCOUNT_TYPE, None, None):
            if record["name"] == account:
                return record
        return None

    def account_keys(self, account: str) -> list[bytes] | None:
        """For the Files data plane: the account's current keys, or None if there is no such account."""
        return self._keys.get(account)

    def shared_key_allowed(self, account: str) -> bool:
        """False once the account was created or updated with allowSharedKeyAccess: false."""
        record = self.find(account)
        return record is None or record["properties"].get("allowSharedKeyAccess") is not False

    def check_name(self, name: str) -> dict:
        problem = account_name_problem(name)
        if problem:
            return {"nameAvailable": False, "reason": "AccountNameInvalid", "message": problem}
        if self.find(name):
            return {
                "nameAvailable": False,
                "reason": "AlreadyExists",
                "message": f"The storage account named {name} is already taken.",
            }
        return {"nameAvailable": True}

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        problem = account_name_problem(rid.name)
        if problem:
            raise ArmError(400, "AccountNameInvalid", problem)
        owner = self.find(rid.name)
        if owner is not None and owner["id"].lower() != rid.key:
            raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {rid.name} is already taken.")
        if existing is None and not body.get("sku", {}).get("name"):
            raise ArmError(400, "MissingRequiredProperty", "The 'sku.name' property is required for a storage account.")
        record = self.backend.base_record(rid, body, existing)
        record.setdefault("kind", "StorageV2")
        record["sku"] = {
            **record.get("sku", {}),
            "tier": "Premium" if "premium" in record["sku"]["name"].lower() else "Standard",
        }
        now = utc_now()
        properties = {**(existing or {}).get("properties", {}), **body.get("properties", {})}
        properties.update(
            {
                "provisioningState": "Succeeded",
                "primaryEndpoints": {"file": f"{self.backend.context.base_url}/{rid.name}/"},
                "primaryLocation": record["location"],
                "statusOfPrimary": "available",
            }
        )
        properties.setdefault("creationTime", now)
        properties.setdefault("supportsHttpsTrafficOnly", True)
        properties.setdefault("minimumTlsVersion", "TLS1_2")
        properties.setdefault("accessTier", "Hot")
        properties.setdefault("keyCreationTime", {"key1": now, "key2": now})
        record["properties"] = properties
        record.setdefault(
            "secrets",
            {"keys": [{"keyName": f"key{i}", "value": new_account_key(), "creationTime": now} for i in (1, 2)]},
        )
        self._publish_keys(record)
        return record

    def delete(self, record: dict) -> None:
        self._publish_keys(record, present=False)
        for share in self.files.list_shares(record["name"]):
            self.files.delete_share(record["name"], share)

    actions: ClassVar[dict[str, str]] = {"listKeys": "_list_keys", "regenerateKey": "_regenerate_key"}

    @staticmethod
    def _list_keys(record: dict, body: dict) -> dict:
        return {"keys": [{**k, "permissions": "FULL"} for k in record["secrets"]["keys"]]}

    def _regenerate_key(self, record: dict, body: dict) -> dict:
        key_name = body.get("keyName")
        for key in record["secrets"]["keys"]:
            if key["keyName"] == key_name:
                key["value"], key["creationTime"] = new_account_key(), utc_now()
                record["properties"]["keyCreationTime"][key_name] = key["creationTime"]
                self._publish_keys(record)
                return self._list_keys(record, body)
        raise invalid_request(f"keyName must be 'key1' or 'key2', not {key_name!r}.")


class FileServices(ResourceKind):
    """Always exactly one, named 'default', present as soon as its account is."""

    type_name = "Microsoft.Storage/storageAccounts/fileServices"

    def get_record(self, rid: ResourceId) -> dict | None:
        if rid.name != "default" or self.backend.records.get(rid.parent.key) is None:
            return None
        return self.backend.records.get(rid.key) or {
            "id": str(rid),
            "name": "default",
            "type": self.type_name,
            "properties": {"shareDeleteRetentionPolicy": {"enabled": False}, "cors": {"corsRules": []}},
        }

    def list_records(self, parent, subscription, resource_group):
        return [self.get_record(parent.child("fileServices", "default"))]

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        if rid.name != "default":
            raise invalid_request("The file service name must be 'default'.")
        record = existing or self.get_record(rid)
        record["properties"] = {**record["properties"], **body.get("properties", {})}
        return record


class FileShares(ResourceKind):
    """Share records live in ARM state, share contents in the FileStore (which also has data-plane shares)."""

    type_name = "Microsoft.Storage/storageAccounts/fileServices/shares"

    def __init__(self, backend: ArmBackend, files):
        super().__init__(backend)
        self.files = files

    @staticmethod
    def _account(rid: ResourceId) -> str:
        return rid.names[0]

    def _synthesized(self, rid: ResourceId) -> dict:
        return {
            "id": str(rid),
            "name": rid.name,
            "type": self.type_name,
            "properties": {
                "shareQuota": 5120,
                "enabledProtocols": "SMB",
                "accessTier": "TransactionOptimized",
                "lastModifiedTime": utc_now(),
            },
        }

    def get_record(self, rid: ResourceId) -> dict | None:
        if rid.name not in self.files.list_shares(self._account(rid)):
            return None
        return self.backend.records.get(rid.key) or self._synthesized(rid)

    def list_records(self, parent, subscription, resource_group):
        return [self.get_record(parent.child("shares", share)) for share in self.files.list_shares(parent.names[0])]

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        if not _SHARE_NAME.match(rid.name):
            raise ArmError(
                400,
                "InvalidResourceName",
                f"The share name '{rid.name}' is invalid: use 3-63 lower-case letters, digits and single "
                "hyphens, starting and ending with a letter or digit.",
            )
        record = existing or self._synthesized(rid)
        record["properties"] = {
            **record["properties"],
            **body.get("properties", {}),
            "lastModifiedTime": utc_now(),
        }
        record["etag"] = f'"0x{secrets.token_hex(8).upper()}"'
        if existing is None:
            self.files.create_share(self._account(rid), rid.name, record["properties"].get("shareQuota"))
        return record

    def delete(self, record: dict) -> None:
        self.files.delete_share(record["id"].split("/")[8], record["name"])
