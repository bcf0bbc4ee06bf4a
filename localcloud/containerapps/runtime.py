"""Replicas as local processes: one supervisor thread per replica "pulls" the image (its stand-in
environment), runs the container command as PID 1 of its own PID namespace, restarts it when it
exits or fails its startup/liveness probe (with Kubernetes' back-off), and runs its probes.
"""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.containerapps import processes
from localcloud.containerapps.discard import discard
from localcloud.containerapps.images import Image
from localcloud.containerapps.standins import ImagePullError, ensure

STOP_GRACE_SECONDS = 5.0
_TICK_SECONDS = 0.1
# Kubernetes' CrashLoopBackOff: 10 s, doubling, capped at five minutes (kubelet's defaults).
_FIRST_BACKOFF_SECONDS = 10.0
_MAX_BACKOFF_SECONDS = 300.0


def crash_backoff(restarts: int) -> float:
    """Seconds to wait before restart number `restarts` (1-based)."""
    return min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2 ** (restarts - 1))


@dataclass(frozen=True)
class Probe:
    type: str  # Startup | Readiness | Liveness
    http_path: str | None  # None: a TCP connect check
    initial_delay: float
    period: float
    failure_threshold: int
    timeout: float

    def check(self, port: int) -> bool:
        try:
            if self.http_path is None:
                with socket.create_connection(("127.0.0.1", port), timeout=self.timeout):
                    return True
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
            try:
                connection.request("GET", self.http_path)
                return 200 <= connection.getresponse().status < 400
            finally:
                connection.close()
        except OSError:
            return False


# Without any probe the platform checks that the target port accepts connections.
DEFAULT_READINESS = Probe("Readiness", None, 0, 1, 3, 1)


@dataclass(frozen=True)
class ReplicaSpec:
    app_key: str
    revision_key: str
    app: str
    revision: str
    name: str
    container: str
    image: str  # the container's image reference
    stand_in: Image | None  # None: not an image localcloud can run (the pull fails)
    argv: list[str]
    env: dict[str, str]  # PATH gets the stand-in's bin/ in front when the image is ready
    probes: list[Probe]
    ephemeral: Path  # the container's writable layer: HOME, TMPDIR; new for every container run
    log_path: Path  # console log
    system_log_path: Path  # the app's system log (ContainerAppController events)


@dataclass
class _ProbeState:
    probe: Probe
    next_due: float
    failures: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Replica:
    spec: ReplicaSpec
    port: int
    pids_dir: Path
    created: str = field(default_factory=_now_iso)
    ready: bool = False
    running: bool = False
    ever_ready: bool = False
    restart_count: int = 0
    last_exit: str = ""
    pull_failed: str = ""  # why the image could not be pulled; the replica never starts
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=f"replica-{self.spec.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_SECONDS + 10)

    def _log(self, line: str) -> None:
        with open(self.spec.log_path, "a") as log:
            log.write(f"[localcloud] {line}\n")

    def system(self, reason: str, message: str, warning: bool = False) -> None:
        """One line of the app's system log, in the shape Container Apps writes its events
        (ContainerAppController events quoted in microsoft/azure-container-apps#1371 and #783)."""
        event = {
            "TimeStamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
            "Type": "Warning" if warning else "Normal",
            "ContainerAppName": self.spec.app,
            "RevisionName": self.spec.revision,
            "ReplicaName": self.spec.name,
            "Msg": message,
            "Reason": reason,
            "EventSource": "ContainerAppController",
            "Count": 1,
        }
        with open(self.spec.system_log_path, "a") as log:
            log.write(json.dumps(event) + "\n")

    def _pull(self) -> list[str] | None:
        """The command's environment PATH with the image's stand-in first; None when the pull failed."""
        image = self.spec.image
        self.system("PullingImage", f'Pulling image "{image}"')
        try:
            if self.spec.stand_in is None:
                raise ImagePullError(f'image "{image}" is not one localcloud can run (localcloud/README.md, Images)')
            root = ensure(self.spec.stand_in, lambda line: self.system("PullingImage", line))
        except ImagePullError as exc:
            self.pull_failed = (
                f"Container '{self.spec.container}' was terminated with exit code '' and reason 'ImagePullFailure'"
            )
            self.last_exit = self.pull_failed
            self.system("ImagePullFailure", f'Failed to pull image "{image}": {exc}', warning=True)
            self._log(f"failed to pull image \"{image}\": {exc}")
            return None
        self.system("ImagePulled", f'Successfully pulled image "{image}"')
        return [str(root / "bin")]

    def _supervise(self) -> None:
        path = self._pull()
        if path is None:
            return
        env = {**self.spec.env, "PATH": ":".join([*path, self.spec.env["PATH"]])}
        while not self._stop.is_set():
            self._run_once(env)
            if self._stop.is_set():
                break
            self.restart_count += 1
            backoff = crash_backoff(self.restart_count)
            message = f"Back-off restarting failed container '{self.spec.container}': waiting {backoff:.0f}s"
            self.system("BackOff", message, warning=True)
            self._log(f"{message} (restart {self.restart_count})")
            self._stop.wait(backoff)

    def _run_once(self, env: dict[str, str]) -> None:
        # A fresh writable layer for every run of the container, as a restarted container gets.
        discard(self.spec.ephemeral)
        for folder in ("home", "tmp"):
            (self.spec.ephemeral / folder).mkdir(parents=True)
        try:
            process = processes.spawn(
                processes.in_pid_namespace(self.spec.argv), env, self.spec.ephemeral / "home",
                self.spec.log_path, self.pids_dir,
            )
        except OSError as exc:
            self.last_exit = f"the container command could not start: {exc.strerror}: {self.spec.argv[0]}"
            self._log(self.last_exit)
            return
        self.running = True
        self.system("ContainerStarted", f"Started container {self.spec.container}")
        try:
            self._watch(process)
        finally:
            self.ready = self.running = False
            processes.end_group(process.pid, STOP_GRACE_SECONDS, process)
            processes.forget(self.pids_dir, process.pid)
            discard(self.spec.ephemeral)

    def _watch(self, process: subprocess.Popen) -> None:
        started = time.monotonic()
        by_type = {p.type: p for p in self.spec.probes}
        if "Startup" not in by_type and "Readiness" not in by_type:
            by_type["Readiness"] = DEFAULT_READINESS
        states = {t: _ProbeState(p, started + p.initial_delay) for t, p in by_type.items()}
        started_up = "Startup" not in states
        while not self._stop.wait(_TICK_SECONDS):
            code = process.poll()
            if code is not None:
                self.last_exit = f"container '{self.spec.container}' exited with code {code}"
                self._log(self.last_exit)
                return
            now = time.monotonic()
            for probe_type in ("Startup", "Readiness", "Liveness"):
                state = states.get(probe_type)
                if state is None or now < state.next_due or (probe_type != "Startup" and not started_up):
                    continue
                state.next_due = now + state.probe.period
                ok = state.probe.check(self.port)
                state.failures = 0 if ok else state.failures + 1
                if probe_type == "Startup" and ok:
                    started_up = True
                    states.pop("Startup")
                elif probe_type == "Readiness":
                    self.ready = ok or (self.ready and state.failures < state.probe.failure_threshold)
                elif state.failures >= state.probe.failure_threshold:
                    self.last_exit = f"{probe_type.lower()} probe failed {state.failures} times"
                    self._log(f"{self.last_exit}: restarting container '{self.spec.container}'")
                    return
            if started_up and "Readiness" not in states:
                self.ready = True
            self.ever_ready = self.ever_ready or self.ready


class Runtime:
    """All replicas of the local cloud, by revision."""

    def __init__(self, pids_dir: Path):
        self.pids_dir = pids_dir
        self._lock = threading.Lock()
        self._replicas: dict[str, list[Replica]] = {}

    def start(self, spec: ReplicaSpec, port: int) -> Replica:
        replica = Replica(spec, port, self.pids_dir)
        with self._lock:
            self._replicas.setdefault(spec.revision_key, []).append(replica)
        replica.start()
        return replica

    def stop_revision(self, revision_key: str) -> None:
        with self._lock:
            replicas = self._replicas.pop(revision_key, [])
        _stop_all(replicas)

    def replicas(self, revision_key: str) -> list[Replica]:
        with self._lock:
            return list(self._replicas.get(revision_key, []))

    def ready_port(self, app_key: str) -> int | None:
        with self._lock:
            for replicas in self._replicas.values():
                for replica in replicas:
                    if replica.spec.app_key == app_key and replica.ready:
                        return replica.port
        return None

    def find(self, replica_name: str) -> Replica | None:
        with self._lock:
            for replicas in self._replicas.values():
                for replica in replicas:
                    if replica.spec.name == replica_name:
                        return replica
        return None

    def shutdown(self) -> None:
        with self._lock:
            replicas = [r for rs in self._replicas.values() for r in rs]
            self._replicas.clear()
        _stop_all(replicas)


def _stop_all(replicas: list[Replica]) -> None:
    """Stop in parallel: each waits up to its grace period."""
    for replica in replicas:
        replica.request_stop()
    for replica in replicas:
        replica.stop()
