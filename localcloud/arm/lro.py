"""Long-running operations: the status documents that Azure-AsyncOperation / Location headers point to."""

from __future__ import annotations

import threading
import uuid

from localcloud.arm.models import utc_now

# Seconds the SDK pollers wait between polls; small because local operations finish quickly.
RETRY_AFTER_SECONDS = "1"


class Operations:
    def __init__(self):
        self._lock = threading.Lock()
        self._operations: dict[str, dict] = {}
        self._resources: dict[str, str | None] = {}

    def start(self, resource_id: str | None = None) -> str:
        """resource_id: what the operation's result URL answers with once it has finished."""
        operation_id = str(uuid.uuid4())
        with self._lock:
            self._operations[operation_id] = {
                "name": operation_id,
                "status": "InProgress",
                "startTime": utc_now(),
            }
            self._resources[operation_id] = resource_id
        return operation_id

    def resource_of(self, operation_id: str) -> str | None:
        with self._lock:
            return self._resources.get(operation_id)

    def finish(self, operation_id: str, error: dict | None = None) -> None:
        with self._lock:
            operation = self._operations[operation_id]
            operation.update(status="Failed" if error else "Succeeded", endTime=utc_now())
            if error:
                operation["error"] = error

    def status(self, operation_id: str) -> dict | None:
        with self._lock:
            operation = self._operations.get(operation_id)
            return dict(operation) if operation else None

    def completed(self, resource_id: str | None = None) -> str:
        operation_id = self.start(resource_id)
        self.finish(operation_id)
        return operation_id
