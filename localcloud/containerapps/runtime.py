"""Replicas as local processes: one supervisor thread per replica runs the container command,
restarts it when it exits (with back-off, as the platform does), and runs its probes.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.containerapps import processes

STOP_GRACE_SECONDS = 5.0
_TICK_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 10.0


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
    name: str
    container: str
    argv: list[str]
    env: dict[str, str]
    probes: list[Probe]
    workdir: Path
    log_path: Path


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

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._run_once()
            if self._stop.is_set():
                break
            self.restart_count += 1
            backoff = min(_MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(self.restart_count, 5))
            self._log(f"container '{self.spec.container}' restarts in {backoff:.1f}s (restart {self.restart_count})")
            self._stop.wait(backoff)

    def _run_once(self) -> None:
        try:
            process = processes.spawn(
                self.spec.argv, self.spec.env, self.spec.workdir, self.spec.log_path, self.pids_dir
            )
        except OSError as exc:
            self.last_exit = f"the container command could not start: {exc.strerror}: {self.spec.argv[0]}"
            self._log(self.last_exit)
            return
        self.running = True
        try:
            self._watch(process)
        finally:
            self.ready = self.running = False
            processes.end_group(process.pid, STOP_GRACE_SECONDS, process)
            processes.forget(self.pids_dir, process.pid)

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
