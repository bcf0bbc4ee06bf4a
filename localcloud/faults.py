"""Fault injection (POST /_localcloud/faults): transport faults by operation kind, ARM errors by type.

Shares are applied deterministically (an accumulator, not a random draw) so a test that asks for
half of the requests to fail sees exactly every second one fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

TRANSPORT_RESPONSES = ("429", "503", "cut")


class FaultConfigError(ValueError):
    """The faults body is malformed; the message names the field and the fix."""


def operation_matches(kind: str, operation: str) -> bool:
    """'files' matches 'files:write:PUT range'; 'arm:PUT' matches 'arm:PUT Microsoft.App/containerApps'."""
    return operation == kind or operation.startswith((kind + ":", kind + " "))


@dataclass
class TransportFault:
    kind: str
    share: float
    response: str
    retry_after: int
    remaining: int | None
    _credit: float = field(default=0.0, repr=False)

    def fires(self) -> bool:
        if self.remaining == 0:
            return False
        self._credit += self.share
        if self._credit < 1.0 - 1e-9:
            return False
        self._credit -= 1.0
        if self.remaining is not None:
            self.remaining -= 1
        return True

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "share": self.share,
            "response": self.response,
            "retryAfter": self.retry_after,
            "remaining": self.remaining,
        }


@dataclass
class ArmFault:
    method: str | None
    resource_type: str
    status: int
    code: str
    message: str
    remaining: int | None

    def describe(self) -> dict:
        return {
            "method": self.method,
            "resourceType": self.resource_type,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "remaining": self.remaining,
        }


def _field(entry: dict, name: str, kind: type, where: str, default=None, required=False):
    value = entry.get(name, default)
    if value is None and required:
        raise FaultConfigError(f"{where}.{name} is required")
    if value is not None and not isinstance(value, kind):
        raise FaultConfigError(f"{where}.{name} must be a {getattr(kind, '__name__', 'number')}")
    return value


def _transport(entry: dict, where: str) -> TransportFault:
    share = float(_field(entry, "share", (int, float), where, default=1.0))
    if not 0.0 <= share <= 1.0:
        raise FaultConfigError(f"{where}.share must be between 0 and 1")
    response = str(_field(entry, "response", (int, str), where, required=True))
    if response not in TRANSPORT_RESPONSES:
        raise FaultConfigError(f'{where}.response must be one of 429, 503, "cut"')
    return TransportFault(
        kind=_field(entry, "kind", str, where, required=True),
        share=share,
        response=response,
        retry_after=_field(entry, "retryAfter", int, where, default=1),
        remaining=_field(entry, "count", int, where),
    )


def _arm(entry: dict, where: str) -> ArmFault:
    status = _field(entry, "status", int, where, required=True)
    if not 400 <= status <= 599:
        raise FaultConfigError(f"{where}.status must be an HTTP error status (400-599)")
    method = _field(entry, "method", str, where)
    return ArmFault(
        method=method.upper() if method else None,
        resource_type=_field(entry, "resourceType", str, where, required=True),
        status=status,
        code=_field(entry, "code", str, where, required=True),
        message=_field(entry, "message", str, where, default="Injected by localcloud."),
        remaining=_field(entry, "count", int, where),
    )


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._transport: list[TransportFault] = []
        self._arm: list[ArmFault] = []

    def configure(self, body: dict | None) -> None:
        """Replace the whole configuration; an empty body resets it."""
        body = body or {}
        if not isinstance(body, dict):
            raise FaultConfigError("the body must be a JSON object with 'faults' and/or 'armErrors' lists")
        unknown = set(body) - {"faults", "armErrors"}
        if unknown:
            raise FaultConfigError(f"unknown key(s) {sorted(unknown)}: use 'faults' and/or 'armErrors'")
        transport = [_transport(e, f"faults[{i}]") for i, e in enumerate(self._list(body, "faults"))]
        arm = [_arm(e, f"armErrors[{i}]") for i, e in enumerate(self._list(body, "armErrors"))]
        with self._lock:
            self._transport, self._arm = transport, arm

    @staticmethod
    def _list(body: dict, name: str) -> list[dict]:
        entries = body.get(name, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise FaultConfigError(f"'{name}' must be a list of objects")
        return entries

    def transport_fault(self, operation: str) -> TransportFault | None:
        with self._lock:
            for fault in self._transport:
                if operation_matches(fault.kind, operation) and fault.fires():
                    return fault
        return None

    def arm_fault(self, method: str, resource_type: str) -> ArmFault | None:
        with self._lock:
            for fault in self._arm:
                if fault.remaining == 0 or fault.resource_type.lower() != resource_type.lower():
                    continue
                if fault.method and fault.method != method.upper():
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def describe(self) -> dict:
        with self._lock:
            return {
                "faults": [f.describe() for f in self._transport],
                "armErrors": [f.describe() for f in self._arm],
            }
