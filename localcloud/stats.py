"""Request counters per operation name, for tests and benchmarks (GET /_localcloud/stats)."""

from __future__ import annotations

import threading
from collections import defaultdict


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self._ops: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "bytesIn": 0, "bytesOut": 0})

    def record(self, operation: str, bytes_in: int, bytes_out: int) -> None:
        with self._lock:
            entry = self._ops[operation]
            entry["count"] += 1
            entry["bytesIn"] += bytes_in
            entry["bytesOut"] += bytes_out

    def reset(self) -> None:
        with self._lock:
            self._ops.clear()

    def snapshot(self) -> dict:
        with self._lock:
            operations = {name: dict(entry) for name, entry in sorted(self._ops.items())}
        return {
            "requests": sum(e["count"] for e in operations.values()),
            "bytesIn": sum(e["bytesIn"] for e in operations.values()),
            "bytesOut": sum(e["bytesOut"] for e in operations.values()),
            "operations": operations,
        }
