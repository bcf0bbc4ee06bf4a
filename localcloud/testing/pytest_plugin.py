"""A pytest plugin (`-p localcloud.testing.pytest_plugin`) for test runs that start local clouds.

- The clouds keep their replicas' writable layers in memory when the machine has room for them. A
  replica that starts an aitk app writes an unpacked Python environment of some 19,000 files (425 MB) to
  its layer, and a test run starts a few dozen. On this kind of machine (a virtual disk, ext4) that cost
  about 34 s per replica when other writes were in flight (22 s of it in the kernel), against 11 s on
  tmpfs. Nothing a test checks depends on the disk's speed. The run gets one folder (its xdist workers
  inherit it), removed when it ends; without enough room, layers stay on disk.
- The clouds a test process stopped with `stop_in_background` have stopped when it ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

from localcloud.state import LAYERS_VARIABLE
from localcloud.testing import wait_for_stopped_clouds

MEMORY = "/dev/shm"
# Room for the layers of the replicas alive at once in one run (about 10 at 425 MB), with a margin.
NEEDED_BYTES = 8 * 2**30
PREFIX = "localcloud-layers-"


def _room(path: str) -> int:
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize if os.access(path, os.W_OK) else 0


def _remove_abandoned() -> None:
    """Folders of runs that were killed before they could remove theirs: memory is not freed by a reboot
    that never comes."""
    for folder in glob.glob(os.path.join(MEMORY, f"{PREFIX}*-*")):
        pid = int(os.path.basename(folder)[len(PREFIX):].split("-")[0] or 0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


def pytest_configure(config) -> None:
    if LAYERS_VARIABLE in os.environ or _room(MEMORY) < NEEDED_BYTES:
        return  # set by the caller, or by the run that started this xdist worker; or no room
    _remove_abandoned()
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=MEMORY)
    os.environ[LAYERS_VARIABLE] = folder
    config._localcloud_layers = folder


def pytest_sessionfinish(session) -> None:
    wait_for_stopped_clouds()


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_localcloud_layers", None)
    if folder:
        os.environ.pop(LAYERS_VARIABLE, None)
        shutil.rmtree(folder, ignore_errors=True)
