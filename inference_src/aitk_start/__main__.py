"""`python3 -m aitk_start` (launch.sh): torch check, environment, then the server (see __init__)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile

from . import environment, failed_server, torch_check


def _stop(*_args) -> None:
    # PID 1 ignores SIGTERM without a handler; the platform's stop must end a build too.
    sys.exit(143)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    folder = os.getcwd()
    try:
        reason = torch_check.problem(os.path.join(folder, environment.CONSTRAINTS))
    except (OSError, ValueError) as ex:  # constraints.txt missing or edited out of shape
        reason = str(ex)
    if reason:
        failed_server.serve(reason)
        return 1
    python = sys.executable
    if not environment.satisfied(folder):
        local_root = os.environ.get("AITK_LOCAL_ROOT") or os.path.join(tempfile.gettempdir(), "aitk-infer")
        shared = os.environ.get("AITK_ENVIRONMENTS") or os.path.join(local_root, "envs")
        try:
            python = environment.ensure(folder, shared, local_root, torch_check.found())
        except environment.BuildFailed as ex:
            failed_server.serve(str(ex))
            return 1
    os.execv(python, [python, "-m", "aitk_start.serve"])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
