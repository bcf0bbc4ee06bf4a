"""Template deployments (Microsoft.Resources/deployments at resource group scope).

Validation runs in the request; the deployment itself runs on a worker thread while the client polls
the operation status, as ARM does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
import uuid

from localcloud.arm.exceptions import ArmError, invalid_request
from localcloud.arm.lro import Operations
from localcloud.arm.models import ArmBackend, utc_now

logger = logging.getLogger(__name__)
_SECURE_TYPES = {"securestring", "secureobject"}


def _engine():
    from localcloud.templates import engine  # the TEMPLATE helper's part; imported when first needed

    return engine


class Deployments:
    def __init__(self, backend: ArmBackend, operations: Operations):
        self.backend = backend
        self.operations = operations

    @property
    def records(self) -> dict[str, dict]:
        return self.backend.state.section("deployments")

    def _id(self, subscription: str, resource_group: str, name: str) -> str:
        group = self.backend.get_group(subscription, resource_group)["name"]
        return (
            f"/subscriptions/{self.backend.context.subscription_id}/resourceGroups/{group}"
            f"/providers/Microsoft.Resources/deployments/{name}"
        )

    def _inputs(self, subscription: str, resource_group: str, name: str, body: dict):
        properties = (body or {}).get("properties")
        if not isinstance(properties, dict):
            raise invalid_request("The request content must have a 'properties' object.")
        if "templateLink" in properties or "parametersLink" in properties:
            raise invalid_request(
                "templateLink/parametersLink are not emulated: send the template inline "
                "(az deployment group create --template-file)."
            )
        template, parameters = properties.get("template"), properties.get("parameters") or {}
        if not isinstance(template, dict) or not isinstance(parameters, dict):
            raise invalid_request(
                "properties.template (an object) is required; properties.parameters must be an "
                "object of {name: {value}}."
            )
        mode = properties.get("mode", "Incremental")
        if mode != "Incremental":
            raise invalid_request(f"properties.mode '{mode}' is not emulated: use 'Incremental'.")
        group = self.backend.get_group(subscription, resource_group)
        engine = _engine()
        scope = engine.DeploymentScope(
            subscription_id=self.backend.context.subscription_id,
            tenant_id=self.backend.context.tenant_id,
            resource_group=group["name"],
            location=group["location"],
            deployment_name=name,
        )
        validated = engine.validate_template(template, parameters, scope)
        return engine, scope, template, parameters, validated

    def _record(self, deployment_id: str, name: str, template: dict, parameters: dict, state: str) -> dict:
        declared = template.get("parameters") or {}
        shown = {}
        for key, value in parameters.items():
            kind = str((declared.get(key) or {}).get("type", "String"))
            shown[key] = {"type": kind} if kind.lower() in _SECURE_TYPES else {"type": kind, **value}
        return {
            "id": deployment_id,
            "name": name,
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "templateHash": _template_hash(template),
                "parameters": shown,
                "mode": "Incremental",
                "provisioningState": state,
                "timestamp": utc_now(),
                "duration": "PT0S",
                "correlationId": str(uuid.uuid4()),
                "providers": [],
                "dependencies": [],
                "outputResources": [],
                "validatedResources": [],
            },
        }

    def validate(self, subscription: str, resource_group: str, name: str, body: dict) -> dict:
        _, _, template, parameters, validated = self._inputs(subscription, resource_group, name, body)
        record = self._record(self._id(subscription, resource_group, name), name, template, parameters, "Succeeded")
        record["properties"]["validatedResources"] = validated
        return record

    def create(self, subscription: str, resource_group: str, name: str, body: dict) -> tuple[dict, bool, str]:
        engine, scope, template, parameters, _ = self._inputs(subscription, resource_group, name, body)
        deployment_id = self._id(subscription, resource_group, name)
        with self.backend.state.lock:
            existing = self.records.get(deployment_id.lower())
            if existing and existing["properties"]["provisioningState"] in ("Accepted", "Running"):
                raise ArmError(
                    409,
                    "DeploymentActive",
                    f"The deployment '{name}' is already running: wait for it to finish.",
                )
            record = self._record(deployment_id, name, template, parameters, "Accepted")
            record["operations"] = []
            self.records[deployment_id.lower()] = record
            self.backend.state.save()
        operation_id = self.operations.start()
        threading.Thread(
            target=self._run,
            name=f"deployment-{name}",
            daemon=True,
            args=(engine, scope, template, parameters, record, operation_id),
        ).start()
        return self.view(record), existing is None, operation_id

    def _run(self, engine, scope, template, parameters, record, operation_id) -> None:
        started = time.monotonic()
        properties = record["properties"]
        properties["provisioningState"] = "Running"

        def on_resource(resource_id: str, status: str, error: dict | None = None) -> None:
            self._operation(record, resource_id, status, error)

        try:
            outputs = engine.run_deployment(
                template,
                parameters,
                scope,
                _RecordingProvider(self.backend, on_resource),
                on_resource=on_resource,
            )
        except ArmError as exc:
            error = exc.to_dict()
            if exc.code != "DeploymentFailed":
                error = {"code": "DeploymentFailed", "message": engine.DEPLOYMENT_FAILED, "details": [error]}
            properties.update(provisioningState="Failed", error=error)
        except Exception:  # any other failure ends the deployment as Failed, as ARM does, and is logged
            logger.exception("deployment %s failed", record["name"])
            error = {
                "code": "DeploymentFailed",
                "message": engine.DEPLOYMENT_FAILED,
                "details": [{"code": "InternalServerError", "message": "The deployment failed unexpectedly."}],
            }
            properties.update(provisioningState="Failed", error=error)
        else:
            properties.update(provisioningState="Succeeded", outputs=outputs)
            error = None
        properties["duration"] = f"PT{time.monotonic() - started:.3f}S"
        properties["timestamp"] = utc_now()
        properties["outputResources"] = [
            {"id": op["properties"]["targetResource"]["id"]}
            for op in record["operations"]
            if op["properties"]["provisioningState"] == "Succeeded"
        ]
        with self.backend.state.lock:
            self.backend.state.save()
        self.operations.finish(operation_id, error)

    def _operation(self, record: dict, resource_id: str, status: str, error: dict | None) -> None:
        with self.backend.state.lock:
            operations = record["operations"]
            existing = next(
                (o for o in operations if o["properties"]["targetResource"]["id"].lower() == resource_id.lower()),
                None,
            )
            if existing is None:
                operation_id = hashlib.sha256(f"{record['id']}{resource_id}".encode()).hexdigest()[:16].upper()
                existing = {
                    "id": f"{record['id']}/operations/{operation_id}",
                    "operationId": operation_id,
                    "properties": {
                        "provisioningOperation": "Create",
                        "timestamp": utc_now(),
                        "duration": "PT0S",
                        "trackingId": str(uuid.uuid4()),
                        "targetResource": {
                            "id": resource_id,
                            "resourceType": _type_of(resource_id),
                            "resourceName": resource_id.rsplit("/", 1)[-1],
                        },
                    },
                }
                operations.append(existing)
            existing["properties"]["provisioningState"] = status
            existing["properties"]["timestamp"] = utc_now()
            if error:
                existing["properties"]["statusCode"] = "BadRequest"
                existing["properties"]["statusMessage"] = {"status": "Failed", "error": error}
            elif status == "Succeeded":
                existing["properties"]["statusCode"] = "OK"

    def view(self, record: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in record.items() if k != "operations"}

    def _get_record(self, subscription: str, resource_group: str, name: str) -> dict:
        record = self.records.get(self._id(subscription, resource_group, name).lower())
        if record is None:
            raise ArmError(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
        return record

    def get(self, subscription: str, resource_group: str, name: str) -> dict:
        with self.backend.state.lock:
            return self.view(self._get_record(subscription, resource_group, name))

    def list(self, subscription: str, resource_group: str) -> list[dict]:
        prefix = self._id(subscription, resource_group, "").lower()
        with self.backend.state.lock:
            return [self.view(r) for k, r in self.records.items() if k.startswith(prefix)]

    def list_operations(self, subscription: str, resource_group: str, name: str) -> list[dict]:
        with self.backend.state.lock:
            return copy.deepcopy(self._get_record(subscription, resource_group, name)["operations"])

    def delete(self, subscription: str, resource_group: str, name: str) -> bool:
        with self.backend.state.lock:
            removed = self.records.pop(self._id(subscription, resource_group, name).lower(), None)
            self.backend.state.save()
        return removed is not None


class _RecordingProvider:
    """The backend as the engine's ResourceProvider, recording each resource's failure as ARM shows it."""

    def __init__(self, backend: ArmBackend, on_resource):
        self._backend = backend
        self._on_resource = on_resource

    def put_resource(self, resource_id: str, api_version: str, body: dict) -> dict:
        try:
            return self._backend.put_resource(resource_id, api_version, body)
        except ArmError as exc:
            self._on_resource(resource_id, "Failed", exc.to_dict())
            raise

    def get_resource(self, resource_id: str, api_version: str | None) -> dict:
        return self._backend.get_resource(resource_id, api_version)

    def invoke_action(self, resource_id: str, action: str, api_version: str) -> dict:
        return self._backend.invoke_action(resource_id, action, api_version)


def _type_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    after = parts[parts.index("providers") + 1 :] if "providers" in parts else []
    return "/".join([after[0], *after[1::2]]) if after else ""


def _template_hash(template: dict) -> str:
    return str(int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:15], 16))
