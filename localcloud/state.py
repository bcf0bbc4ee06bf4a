"""The local cloud's persistent state: one JSON document under the state directory."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

# Names a folder for the replicas' writable layers (see StateDir.layers).
LAYERS_VARIABLE = "LOCALCLOUD_LAYERS"


class StateFile:
    """A dict saved atomically (write + rename) so a crash never leaves half a file."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def section(self, name: str) -> dict[str, Any]:
        with self.lock:
            return self.data.setdefault(name, {})

    def pop_section_entries(self, name: str, key_prefix: str) -> None:
        with self.lock:
            section = self.section(name)
            for key in [k for k in section if k.startswith(key_prefix)]:
                del section[key]

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            tmp.chmod(0o600)
            os.replace(tmp, self.path)


class StateDir:
    """Where everything of one local cloud lives."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def replicas(self) -> Path:
        return self.root / "replicas"

    @property
    def layers(self) -> Path:
        """Where the replicas' writable layers go: beside their logs, or, with LOCALCLOUD_LAYERS set (say a
        tmpfs), in a folder of this cloud's own under it. Only the host's disk speed changes."""
        elsewhere = os.environ.get(LAYERS_VARIABLE)
        if not elsewhere:
            return self.replicas
        return Path(elsewhere) / hashlib.sha256(str(self.root).encode()).hexdigest()[:16]

    @property
    def pids(self) -> Path:
        """One file per process group the local cloud started, named by its id."""
        return self.root / "pids"

    @property
    def azure_config(self) -> Path:
        return self.root / "azure"

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"
