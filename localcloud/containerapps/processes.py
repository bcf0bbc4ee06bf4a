"""Starting and ending process groups, each recorded under the state's pids folder until it is gone.

`stop` (and a crashed server's next stop) reads that folder, so no process outlives the local cloud.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

UNSHARE = "/usr/bin/unshare"


def in_pid_namespace(argv: list[str]) -> list[str]:
    """argv run as PID 1 of a new PID namespace with its own /proc (a container's view), killed with
    everything in it when unshare (the group leader the supervisor ends) goes."""
    return [UNSHARE, "--pid", "--fork", "--mount-proc", "--kill-child", "--", *argv]


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, pids_dir: Path) -> subprocess.Popen:
    pids_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (pids_dir / str(process.pid)).write_text(" ".join(argv)[:200])
    return process


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, grace_seconds: float, process: subprocess.Popen | None = None) -> None:
    """SIGTERM the group, SIGKILL what is left after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()  # reap the leader so the group check below can see it gone
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def forget(pids_dir: Path, pid: int) -> None:
    (pids_dir / str(pid)).unlink(missing_ok=True)


def end_recorded_groups(pids_dir: Path, grace_seconds: float) -> list[int]:
    """End every group recorded under pids_dir (used by `stop` after the server is gone)."""
    ended = []
    for entry in sorted(pids_dir.glob("*")) if pids_dir.exists() else []:
        if entry.name.isdigit():
            pgid = int(entry.name)
            if _group_alive(pgid):
                end_group(pgid, grace_seconds)
                ended.append(pgid)
            entry.unlink(missing_ok=True)
    return ended
