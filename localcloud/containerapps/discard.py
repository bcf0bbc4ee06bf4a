"""A replica's writable layer goes with it at once, and its files are deleted in the background.

The layer holds what the container wrote, e.g. an unpacked Python environment of some 19,000 files:
deleting it takes seconds of disk time, and several replicas stopping together (a revision restart,
`localcloud stop`) would each wait for their own. So the folder is renamed away (the replica's paths are
gone at once, as in Azure) and one background thread deletes what was renamed; what a stopped server
left undeleted is swept when the next one starts.
"""

from __future__ import annotations

import queue
import shutil
import threading
import uuid
from pathlib import Path

_PREFIX = ".discarded-"
_pending: queue.Queue[Path] = queue.Queue()
_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


def discard(folder: Path) -> None:
    """Make folder gone now and delete its files later; nothing happens when it does not exist."""
    trash = folder.with_name(f"{_PREFIX}{uuid.uuid4().hex}")
    try:
        folder.rename(trash)
    except FileNotFoundError:
        return
    _delete_later(trash)


def sweep(root: Path) -> None:
    """Delete, in the background, what discard() renamed under root's subfolders and did not delete."""
    for trash in root.glob(f"*/{_PREFIX}*"):
        _delete_later(trash)


def _delete_later(trash: Path) -> None:
    global _worker
    _pending.put(trash)
    with _worker_lock:
        if _worker is None:
            _worker = threading.Thread(target=_delete_forever, name="discard", daemon=True)
            _worker.start()


def _delete_forever() -> None:
    while True:
        shutil.rmtree(_pending.get(), ignore_errors=True)
