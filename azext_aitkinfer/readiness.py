"""Waiting for the restarted revision to serve the deployed version, and stopping at once when it
says it never will.

A replica whose start failed says why in one line: `/ready` answers 503 {"status": "failed",
"reason"} (the server, or the start's stand-in when the server cannot run), and the console log
holds `not ready: <reason>` after `starting version <id>`. Azure's ingress sends no traffic to a
replica that is not ready, so the reason is usually only in the log: both are read.
"""
import re
import time
from dataclasses import dataclass

import requests
from azure.cli.core.azclierror import AzCLIError, ResourceNotFoundError, ValidationError
from azure.core.exceptions import AzureError
from knack.log import get_logger

from .endpoint import probe_ready
from .share_bootstrap import STARTING

logger = get_logger(__name__)

POLL_SECONDS = 2
LOG_EVERY_SECONDS = 6
LOG_TAIL = 50
# What the server (aitk_serve) and the start's stand-in (aitk_start) log when a load fails, and what
# the share bootstrap logs when it refuses a version.
_FAILED = re.compile(r"(?:not ready|refusing to start(?: version \w+)?): (.+)$")


def failure_in_log(lines, version):
    """The reason the log gives for the last start of `version` failing, else None."""
    reason, current = None, False
    for line in lines:
        if STARTING in line:
            current, reason = line.split(STARTING, 1)[1].strip() == version, None
        elif current and (found := _FAILED.search(line)):
            reason = found.group(1)
    return reason


@dataclass(frozen=True)
class Snapshot:
    """What the revision looked like just before the restart: {replica: (created, restarts)} and
    the version /ready reported."""
    starts: dict
    served: str = None

    @classmethod
    def take(cls, app, revision, endpoint):
        return cls(app.replica_starts(revision), (probe_ready(endpoint, with_body=True)[2] or {}).get("version"))


def serves_the_new_version(before, starts, ready, served, version):
    """A ready answer counts when it comes with `version` from a replica that restarted (its name may
    be one seen before: a restart changes its created time or restart count) or that serves a
    version other than the one served before; a server that reports no version needs a restart."""
    restarted = any(before.starts.get(name) != start for name, start in starts.items())
    if served is None:
        return ready and restarted
    return ready and served == version and (restarted or before.served != version)


def _log_tail(app):
    try:
        return list(app.log_lines(tail=LOG_TAIL))
    except (AzCLIError, AzureError, requests.RequestException) as ex:  # a courtesy: never decides the outcome
        return [f"(log not available: {ex})"]


def _failed(app, version, reason, tail=None):
    for line in (tail if tail is not None else _log_tail(app))[-20:]:
        logger.warning("log | %s", line)
    return ValidationError(f"Version {version} cannot start: {reason}")


def wait_ready(app, revision, *, endpoint, version, before, timeout, progress):
    """Until /ready answers as serves_the_new_version says, or the replica says it cannot start."""
    started = time.monotonic()
    deadline, next_log = started + timeout, started + LOG_EVERY_SECONDS
    state = {}
    while time.monotonic() < deadline:
        state = app.revision_state(revision)
        starts = app.replica_starts(revision)
        ready, detail, body = probe_ready(endpoint, with_body=True)
        served = (body or {}).get("version")
        if (body or {}).get("status") == "failed" and served == version:
            raise _failed(app, version, body.get("reason"))
        if serves_the_new_version(before, starts, ready, served, version):
            return state
        if time.monotonic() >= next_log:
            next_log = time.monotonic() + LOG_EVERY_SECONDS
            tail = _log_tail(app)
            reason = failure_in_log(tail, version)
            if reason:
                raise _failed(app, version, reason, tail)
        progress.message(f"Waiting for {revision}: {state.get('runningState')}, /ready {detail} "
                         f"({time.monotonic() - started:.0f} s)")
        time.sleep(POLL_SECONDS)
    for line in _log_tail(app)[-20:]:
        logger.warning("log | %s", line)
    raise ResourceNotFoundError(
        f"The endpoint was not ready after {timeout} s (revision {revision}: "
        f"{state.get('runningState')}). The last log lines are above; see more with "
        "'az aitk-infer logs --follow', then redeploy or raise --timeout")
