"""The inference server as users run it: `python -m aitk_serve` in its own process group on
127.0.0.1, started, probed and killed. Shared by the hardening tests and bench/load.py."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "inference_src"), "AITK_HOST": "127.0.0.1",
                    "PORT": str(self.port), **env}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "aitk_serve"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def ready_status(self, timeout: float = 2.0) -> int | None:
        """/ready's HTTP status, or None when nothing answers."""
        try:
            return httpx.get(f"{self.url}/ready", timeout=timeout).status_code
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.ready_status() != 200:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the server was not ready after {timeout} s: {self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group (as a replica dies), and reap it."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
