"""The inference server killed (SIGKILL, as a replica dies) and started again on the same port
while clients keep chatting: every request ends with an answer or an error within the client's
timeout, never a hang, and /ready tells the truth throughout: when it says ready the API answers,
when it does not the API refuses (or nothing listens)."""
import threading
import time

import httpx
import pytest

from tests.hardening.chat_client import chat
from tests.hardening.serve_process import ServerProcess

CLIENTS = 4
CLIENT_TIMEOUT_S = 20
TRAFFIC_AFTER_RESTART_S = 3


class Traffic:
    """CLIENTS threads chatting in a loop (streams and plain answers) until stopped."""

    def __init__(self, url: str):
        self.url, self.replies, self._stop = url, [], threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _loop(self, index: int) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
            while not self._stop.is_set():
                reply = chat(client, self.url, f"Tell me a story {index}", stream=index % 2 == 0, max_tokens=48)
                self.replies.append(reply)
                if reply.outcome != "answer":
                    time.sleep(0.1)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT_S + 5)
        assert not any(t.is_alive() for t in self._threads), "a client thread hangs"


class ReadinessProbe:
    """/ready polled beside the traffic; each answer is checked at once against a one-token chat."""

    def __init__(self, url: str):
        self.url, self.checks, self._stop = url, [], threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    ready = client.get(f"{self.url}/ready").status_code
                except httpx.TransportError:
                    ready = None
                api = chat(client, self.url, "Hi", stream=False, max_tokens=1)
                self.checks.append((started, time.monotonic(), ready, api))
                time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=CLIENT_TIMEOUT_S + 5)


@pytest.fixture
def server(tiny_share, tmp_path):
    process = ServerProcess({"AITK_SHARE_ROOT": str(tiny_share), "AITK_MAX_MODEL_LEN": "256"},
                            tmp_path / "server.log").start()
    yield process
    process.kill()


def test_killed_and_restarted_server_never_hangs_clients_and_ready_tells_the_truth(server, tmp_path):
    server.wait_ready()
    restarted = ServerProcess(server.env, tmp_path / "restarted.log", port=server.port)
    try:
        with Traffic(server.url) as traffic, ReadinessProbe(server.url) as probe:
            time.sleep(2)
            killed_at = time.monotonic()
            server.kill()
            restarted.start()
            restarted.wait_ready()
            back_at = time.monotonic()
            time.sleep(TRAFFIC_AFTER_RESTART_S)
    finally:
        restarted.kill()

    replies = traffic.replies
    assert not [r for r in replies if r.outcome == "timeout"], "a client waited its whole timeout"
    # Cut mid-flight: some requests that were running when the server died got an error.
    assert any(r.outcome == "error" and r.started < killed_at for r in replies)
    assert any(r.outcome == "answer" and r.started > back_at for r in replies)
    for reply in replies:  # an answer, a transport error, or the loading server's OpenAI-shaped 503
        assert reply.outcome in ("answer", "error") or (reply.status == 503 and reply.error_type), reply
    assert all(r.stream_done for r in replies if r.outcome == "answer" and r.stream)
    # /ready versus what the API did right after: checks that straddle the kill are left out, and so is the
    # last check before /ready first said 200 again (the server may have become ready between its two calls).
    checks = [c for c in probe.checks if not c[0] <= killed_at <= c[1]]
    first_ready = next((i for i, c in enumerate(checks) if c[0] > killed_at and c[2] == 200), None)
    if first_ready:
        del checks[first_ready - 1]
    assert any(ready is None for _, _, ready, _ in checks)  # the probe saw the server down
    for started, _, ready, api in checks:
        if ready == 200:
            assert api.outcome == "answer", (started - killed_at, api)
        else:
            assert api.outcome == "error" or api.status == 503, (started - killed_at, ready, api)
