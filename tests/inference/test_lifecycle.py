"""Readiness, backpressure, disconnects and the API key."""

from __future__ import annotations

import logging
import threading

import httpx
import openai
import pytest
from aitk_serve import model_loader
from fixtures_models import LONG
from gradio_client import Client

USER = [{"role": "user", "content": "Hello"}]


def _metric(server, name: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_ready_is_503_until_the_model_is_loaded_and_warmed(share, start_server):
    gate = threading.Event()

    def load_when_allowed(settings):
        assert gate.wait(timeout=30)
        return model_loader.load(settings)

    server = start_server({"AITK_SHARE_ROOT": str(share)}, load=load_when_allowed, ready=False)
    assert httpx.get(server.url + "/health").status_code == 200
    before = httpx.get(server.url + "/ready")
    assert before.status_code == 503
    assert (before.json()["status"], before.json()["reason"]) == ("loading", "loading")
    gate.set()
    assert server.wait_until_settled().status_code == 200


def test_one_thread_runs_the_model(share, start_server):
    """Each thread running torch ops gets its own OpenMP team; an idle one slows the busy one. The warm-up and
    every request run on the one generation thread of transformers' continuous batching."""
    threads: set[str] = set()

    def load_and_watch(settings):
        loaded = model_loader.load(settings)
        loaded.model.register_forward_pre_hook(lambda *_: threads.add(threading.current_thread().name))
        return loaded

    server = start_server({"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true"}, load=load_and_watch)
    for _ in range(2):
        reply = httpx.post(server.url + "/v1/chat/completions", json={"messages": USER, "max_tokens": 4}, timeout=60)
        assert reply.status_code == 200
    assert len(threads) == 1


def test_the_load_and_the_merge_run_on_a_thread_that_has_ended_once_ready(share, start_server):
    """Why it must have ended: app._set_up_on_a_passing_thread."""
    loaders: list[threading.Thread] = []

    def load_and_record(settings):
        loaders.append(threading.current_thread())
        return model_loader.load(settings)

    server = start_server({"AITK_SHARE_ROOT": str(share)}, load=load_and_record)
    assert "merged" in httpx.get(server.url + "/ready").text
    (loader,) = loaders
    assert not loader.is_alive()


def _long_stream(server, http: httpx.Client):
    body = {"messages": USER, "stream": True, "max_tokens": LONG, "ignore_eos": True, "temperature": 0}
    return http.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=60)


def test_full_queue_answers_429_and_a_disconnect_frees_the_slot(one_slot_server):
    server = one_slot_server
    steps_before = _metric(server, "aitk_batch_size_count")
    with httpx.Client() as first_client, httpx.Client() as second_client:
        with _long_stream(server, first_client) as running:
            lines = running.iter_lines()
            assert next(line for line in lines if '"content":"' in line and '"content":""' not in line)
            with _long_stream(server, second_client) as waiting:
                assert waiting.status_code == 200
                refused = httpx.post(server.url + "/v1/chat/completions", json={"messages": USER})
                assert refused.status_code == 429
                assert refused.headers["Retry-After"] == "2"  # 1 s + one full batch ahead
                assert refused.json()["error"]["code"] == "queue_full"
                running.close()  # the first client hangs up: its slot goes to the waiting request
                tail = [line for line in waiting.iter_lines() if line]
    assert tail[-1] == "data: [DONE]"
    assert '"finish_reason":"length"' in tail[-2]
    # Had the first request not been stopped, its LONG steps alone would be on the counter.
    assert _metric(server, "aitk_batch_size_count") - steps_before < 2 * LONG
    assert _metric(server, "aitk_running_requests") == 0


def test_api_key_is_required_on_v1_and_never_logged(share, start_server, caplog):
    key = "test-key-1234567890"
    with caplog.at_level(logging.DEBUG):
        server = start_server({"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true", "AITK_API_KEY": key})
        missing = httpx.get(server.url + "/v1/models")
        wrong = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer nope"})
        good = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        reply = good.chat.completions.create(model="tiny-chat", messages=USER, max_tokens=3)
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert reply.usage.completion_tokens >= 1
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()
    for public in ("/health", "/ready", "/metrics"):
        assert httpx.get(server.url + public).status_code == 200
    assert key not in caplog.text


def test_ui_needs_the_api_key_as_password_when_a_key_is_set(share, start_server):
    key = "ui-key-0987654321"
    server = start_server({"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true", "AITK_API_KEY": key})
    ui = Client(server.url + "/", auth=("anyone", key), verbose=False)
    assert isinstance(ui.predict("Hello", "", 0.0, 1.0, 4, api_name="/chat"), str)
    with pytest.raises(Exception, match="(?i)login|credentials|401|unauthorized"):
        Client(server.url + "/", auth=("anyone", "wrong"), verbose=False)


def test_non_streaming_client_that_hangs_up_stops_its_generation(one_slot_server):
    server = one_slot_server
    steps_before = _metric(server, "aitk_batch_size_count")
    body = {"messages": USER, "max_tokens": LONG, "ignore_eos": True, "temperature": 0}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        httpx.post(server.url + "/v1/chat/completions", json=body, timeout=httpx.Timeout(5, read=0.3))
    after = httpx.post(server.url + "/v1/chat/completions", json={**body, "max_tokens": 4}, timeout=60)
    assert after.status_code == 200
    assert after.json()["usage"]["completion_tokens"] == 4
    assert _metric(server, "aitk_batch_size_count") - steps_before < LONG
