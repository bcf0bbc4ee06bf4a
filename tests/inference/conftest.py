"""Fixtures for the inference server tests: a tiny share (base + trained adapter) and live servers."""

from __future__ import annotations

import functools
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

# fixtures_models (beside this file) and the server (inference_src/) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_models  # noqa: E402

sys.path.insert(0, str(fixtures_models.INFERENCE_SRC))
import uvicorn  # noqa: E402
from aitk_serve import model_loader  # noqa: E402
from aitk_serve.app import create_app  # noqa: E402
from aitk_serve.config import load_settings  # noqa: E402
from fixtures_models import ADAPTER_REL, BASE_REL, LONG  # noqa: E402

READY_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def share(tmp_path_factory) -> Path:
    """An AI Toolkit share: base model in model-cache/, a LoRA trained to say PHRASE in models/."""
    root = tmp_path_factory.mktemp("share")
    fixtures_models.build_base(root / BASE_REL)
    fixtures_models.train_adapter(root / BASE_REL, root / ADAPTER_REL)
    return root


@pytest.fixture(scope="session")
def other_base(tmp_path_factory) -> Path:
    """A base model of another shape, with an adapter trained on it (for wrong-base checks)."""
    root = tmp_path_factory.mktemp("other")
    fixtures_models.build_base(root / "model-cache/other-org/wide-chat", hidden=96, seed=1)
    fixtures_models.train_adapter(root / "model-cache/other-org/wide-chat", root / "adapter", steps=1)
    return root


class LiveServer:
    """The real app on a real uvicorn at 127.0.0.1 (random port), in a background thread."""

    def __init__(self, env: dict[str, str], load=model_loader.load):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        # As __main__ does: the app is built inside the server's event loop.
        factory = functools.partial(create_app, load_settings(env), load=load)
        config = uvicorn.Config(factory, factory=True, log_level="warning", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        self.wait_for("/health", 200)

    def wait_for(self, path: str, status: int, timeout: float = READY_TIMEOUT_S) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = httpx.get(self.url + path, timeout=5)
                if response.status_code == status or time.monotonic() > deadline:
                    return response
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def wait_until_settled(self) -> httpx.Response:
        """/ready once loading is over (200 when ready, 503 with a reason when it failed)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            response = httpx.get(self.url + "/ready", timeout=5)
            if response.json()["status"] != "loading" or time.monotonic() > deadline:
                return response
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


@pytest.fixture(scope="session")
def start_server():
    """Factory: start a server with the given environment; every server is stopped at session end."""
    servers: list[LiveServer] = []

    def start(env: dict[str, str], load=model_loader.load, ready: bool = True) -> LiveServer:
        server = LiveServer(env, load)
        servers.append(server)
        if ready:
            response = server.wait_until_settled()
            assert response.status_code == 200, response.text
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def adapter_server(share, start_server) -> LiveServer:
    """Default settings on the share: adapter found by search, merged."""
    return start_server({"AITK_SHARE_ROOT": str(share), "AITK_MAX_MODEL_LEN": "256"})


@pytest.fixture(scope="session")
def base_only_server(share, start_server) -> LiveServer:
    return start_server({"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true"})


@pytest.fixture(scope="module")
def one_slot_server(share, start_server):
    """One request runs at a time and one more may wait."""
    env = {
        "AITK_SHARE_ROOT": str(share),
        "AITK_BASE_ONLY": "true",
        "AITK_MAX_BATCH_SIZE": "1",
        "AITK_MAX_QUEUE": "1",
        "AITK_MAX_NEW_TOKENS": str(LONG),
    }
    return start_server(env)
