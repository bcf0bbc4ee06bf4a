"""Concurrent chat clients against a `python -m aitk_serve` process serving the demo model
(SmolLM2-135M-Instruct + the demo's LoRA adapter), bounded in time, with the server's memory
sampled throughout. Shared by test_hardening_load.py and bench/load.py; asserts nothing."""
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.hardening.chat_client import Reply, chat
from tests.hardening.serve_process import REPO, ServerProcess
from tests.paths import MACHINE_CACHE

DEMO_ASSETS = MACHINE_CACHE / "demo-assets"
PROMPTS = ["What is LoRA?", "Tell me about the sea.", "How do ships navigate?", "Say hello to the crew.",
           "Why is the sky blue?", "Give me a tip for sailing.", "What is a compass?", "Describe a storm."]
# A queue shorter than the clients, so backpressure (429 + Retry-After) is exercised too.
SERVER_ENV = {"AITK_MAX_BATCH_SIZE": "8", "AITK_MAX_QUEUE": "8", "AITK_MAX_MODEL_LEN": "512",
              "AITK_DTYPE": "float32"}
MEMORY_WINDOW_S = 10
SAMPLE_EVERY_S = 0.5


def demo_share() -> Path:
    """The demo's base model and adapter in the AI Toolkit share layout (built once per machine, rebuilt
    when the demo's inputs change)."""
    for module, extra in (("demo.prepare_model", []), ("demo.train_adapter", ["--base", str(DEMO_ASSETS)])):
        subprocess.run([sys.executable, "-m", module, "--out", str(DEMO_ASSETS), *extra],
                       cwd=REPO, check=True, capture_output=True, timeout=600)
    return DEMO_ASSETS


@dataclass
class LoadResult:
    clients: int
    seconds: float
    replies: list[Reply] = field(default_factory=list)
    memory: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, RSS bytes)

    def by_status(self) -> dict:
        counts = {}
        for reply in self.replies:
            key = str(reply.status) if reply.status else reply.outcome
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def answers(self) -> list[Reply]:
        return [r for r in self.replies if r.outcome == "answer"]

    def first_token_percentiles(self) -> tuple[float, float]:
        times = sorted(r.first_token_s for r in self.answers if r.first_token_s is not None)
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        return cuts[49], cuts[98]

    def memory_growth(self) -> float:
        """Mean RSS of the last window over the first, minus one."""
        first = [rss for t, rss in self.memory if t <= MEMORY_WINDOW_S]
        last = [rss for t, rss in self.memory if t >= self.seconds - MEMORY_WINDOW_S]
        return statistics.mean(last) / statistics.mean(first) - 1

    def report(self) -> str:
        p50, p99 = self.first_token_percentiles()
        throttled = [r for r in self.replies if r.status == 429]
        return "\n".join([
            f"{self.clients} streaming chat clients for {self.seconds:.0f} s",
            f"requests: {len(self.replies)} by status/outcome {self.by_status()}",
            f"answers: {len(self.answers)} ({len(self.answers) / self.seconds:.2f}/s), streams ended with [DONE]: "
            f"{sum(r.stream_done for r in self.answers)}",
            f"time to first token: p50 {p50:.2f} s, p99 {p99:.2f} s",
            f"429 with Retry-After: {sum(bool(r.retry_after) for r in throttled)} of {len(throttled)}",
            f"server RSS: first {MEMORY_WINDOW_S} s {self._mean_mib(0)} MiB, last {MEMORY_WINDOW_S} s "
            f"{self._mean_mib(1)} MiB, growth {self.memory_growth():+.1%}",
        ])

    def _mean_mib(self, last: int) -> str:
        window = [rss for t, rss in self.memory
                  if (t >= self.seconds - MEMORY_WINDOW_S if last else t <= MEMORY_WINDOW_S)]
        return f"{statistics.mean(window) / 2**20:.0f}"


def _client(url: str, index: int, deadline: float, replies: list, timeout: float) -> None:
    with httpx.Client(timeout=timeout) as client:
        turn = 0
        while time.monotonic() < deadline:
            reply = chat(client, url, PROMPTS[(index + turn) % len(PROMPTS)], stream=True, max_tokens=32)
            replies.append(reply)
            turn += 1
            if reply.status == 429:  # as a polite client does
                time.sleep(min(float(reply.retry_after or 1), max(deadline - time.monotonic(), 0)))


def _sample_memory(pid: int, started: float, stop: threading.Event, samples: list) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
        samples.append((time.monotonic() - started, rss))
        stop.wait(SAMPLE_EVERY_S)


def run_load(server: ServerProcess, clients: int, seconds: float, request_timeout: float = 120) -> LoadResult:
    """`clients` threads chatting until `seconds` have passed; requests started by then finish."""
    result = LoadResult(clients, seconds)
    started = time.monotonic()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(server.process.pid, started, stop, result.memory),
                               daemon=True)
    sampler.start()
    threads = [threading.Thread(target=_client, args=(server.url, i, started + seconds, result.replies,
                                                      request_timeout), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + request_timeout + 10)
    stop.set()
    sampler.join(timeout=5)
    return result


def start_demo_server(log_path: Path) -> ServerProcess:
    server = ServerProcess({"AITK_SHARE_ROOT": str(demo_share()), **SERVER_ENV}, log_path).start()
    try:
        server.wait_ready(timeout=300)
    except BaseException:
        server.kill()
        raise
    return server
