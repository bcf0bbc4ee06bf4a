"""Microsoft.App/managedEnvironments and their storages (Azure Files credentials for volumes)."""

from __future__ import annotations

import hashlib

from localcloud.arm.exceptions import ArmError
from localcloud.arm.ids import ResourceId
from localcloud.arm.models import ResourceKind
from localcloud.containerapps.limits import PROFILE_TYPES

ENVIRONMENT_TYPE = "Microsoft.App/managedEnvironments"
STORAGE_TYPE = "Microsoft.App/managedEnvironments/storages"


class ManagedEnvironments(ResourceKind):
    type_name = ENVIRONMENT_TYPE
    lro = "async"

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        record = self.backend.base_record(rid, body, existing)
        properties = {**(existing or {}).get("properties", {}), **body.get("properties", {})}
        profiles = properties.get("workloadProfiles") or []
        for index, profile in enumerate(profiles):
            profile_type = str(profile.get("workloadProfileType", ""))
            if profile_type.lower() not in {t.lower() for t in PROFILE_TYPES}:
                raise ArmError(
                    400,
                    "InvalidWorkloadProfile",
                    f"properties.workloadProfiles[{index}].workloadProfileType '{profile_type}' is not a "
                    f"known type (e.g. Consumption, Consumption-GPU-NC8as-T4, NC24-A100).",
                )
            # Older SDKs (azure-mgmt-appcontainers 2.0.0, shipped with az) cannot send a name.
            profile.setdefault("name", profile_type)
        if profiles and not any(p["workloadProfileType"].lower() == "consumption" for p in profiles):
            profiles.append({"name": "Consumption", "workloadProfileType": "Consumption"})
        secrets = record.setdefault("secrets", {})
        analytics = (properties.get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration") or {}
        if analytics.get("sharedKey"):
            secrets["logAnalyticsSharedKey"] = analytics.pop("sharedKey")
        base, env_path = self.backend.context.base_url, str(rid).replace("/providers/Microsoft.App", "")
        digest = hashlib.sha256(rid.key.encode()).hexdigest()
        properties.update(
            {
                "provisioningState": "Succeeded",
                "defaultDomain": f"localcloud-{digest[:8]}.{record['location']}.azurecontainerapps.io",
                "staticIp": "127.0.0.1",
                "eventStreamEndpoint": f"{base}{env_path}/eventstream",
                "customDomainConfiguration": {"customDomainVerificationId": digest.upper()},
                "zoneRedundant": bool(properties.get("zoneRedundant", False)),
                "workloadProfiles": profiles or None,
            }
        )
        record["properties"] = properties
        return record

    def delete(self, record: dict) -> None:
        apps = [
            r
            for r in self.backend.stored_records("Microsoft.App/containerApps", None, None)
            if r["properties"]["managedEnvironmentId"].lower() == record["id"].lower()
        ]
        if apps:
            raise ArmError(
                409,
                "ManagedEnvironmentHasContainerApps",
                f"Cannot delete managed environment '{record['name']}': it still has container apps "
                f"({', '.join(a['name'] for a in apps)}).",
            )


class EnvironmentStorages(ResourceKind):
    type_name = STORAGE_TYPE
    created_status = 200

    def create_or_update(self, rid: ResourceId, body: dict, existing: dict | None) -> dict:
        azure_file = dict((body.get("properties") or {}).get("azureFile") or {})
        missing = [k for k in ("accountName", "shareName", "accessMode") if not azure_file.get(k)]
        if missing or (existing is None and not azure_file.get("accountKey")):
            raise ArmError(
                400,
                "InvalidRequestParameterWithDetails",
                f"properties.azureFile needs accountName, accountKey, shareName and accessMode "
                f"(missing: {', '.join(missing or ['accountKey'])}).",
            )
        record = existing or {"id": str(rid), "name": rid.name, "type": self.type_name}
        secrets = record.setdefault("secrets", {})
        if azure_file.get("accountKey"):
            secrets["accountKey"] = azure_file.pop("accountKey")
        azure_file.pop("accountKey", None)
        record["properties"] = {"azureFile": azure_file}
        return record
