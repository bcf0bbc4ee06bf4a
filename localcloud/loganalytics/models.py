"""Microsoft.OperationalInsights/workspaces: a customer id and shared keys (no log ingestion)."""

from __future__ import annotations

from typing import ClassVar

from localcloud.arm.ids import ResourceId
from localcloud.arm.models import ResourceKind, new_guid
from localcloud.storage.accounts import new_account_key


class Workspaces(ResourceKind):
    type_name = "Microsoft.OperationalInsights/workspaces"

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        record = super().create_or_update(rid, body, existing)
        properties = record["properties"]
        properties.setdefault("customerId", new_guid())
        properties.setdefault("sku", {"name": "PerGB2018"})
        properties.setdefault("retentionInDays", 30)
        record.setdefault("secrets", {"primarySharedKey": new_account_key(), "secondarySharedKey": new_account_key()})
        return record

    # Templates call listKeys(); the REST API names the same action sharedKeys.
    actions: ClassVar[dict[str, str]] = {"sharedKeys": "_shared_keys", "listKeys": "_shared_keys"}

    @staticmethod
    def _shared_keys(record: dict, body: dict) -> dict:
        return dict(record["secrets"])
