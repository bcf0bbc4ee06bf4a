"""Prometheus metrics: requests, tokens, latency, queue depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aitk_requests",
            "HTTP API requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter("aitk_prompt_tokens", "Prompt tokens processed", registry=self.registry)
        self.completion_tokens = Counter("aitk_generation_tokens", "Tokens generated", registry=self.registry)
        self.latency = Histogram(
            "aitk_request_latency_seconds",
            "Chat completion time, queueing included",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "aitk_time_to_first_token_seconds",
            "Time to the first generated token",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("aitk_queue_depth", "Requests waiting for a batch slot", registry=self.registry)
        self.running = Gauge("aitk_running_requests", "Requests in the running batch", registry=self.registry)
        self.batch_size = Histogram(
            "aitk_batch_size",
            "Requests decoded together per step",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )

    def watch_engine(self, engine) -> None:
        self.queue_depth.set_function(lambda: engine.waiting)
        self.running.set_function(lambda: engine.running)
        engine.on_step = self.batch_size.observe

    def render(self) -> bytes:
        return generate_latest(self.registry)
