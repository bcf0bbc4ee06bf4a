"""A queued client that hangs up gives its slot back at once; the API says 503 until the model is ready."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from aitk_serve import model_loader
from fixtures_models import LONG
from openai_schema import check

USER = [{"role": "user", "content": "Hello"}]


def _long(stream: bool) -> dict:
    return {"messages": USER, "stream": stream, "max_tokens": LONG, "ignore_eos": True, "temperature": 0}


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_queued_client_that_hangs_up_frees_its_queue_slot_at_once(one_slot_server, stream):
    url = one_slot_server.url + "/v1/chat/completions"

    def queue_is_full() -> bool:
        """429 at once, or queued (then this probe hangs up too, which must free its own slot)."""
        try:
            return httpx.post(url, json={"messages": USER, "max_tokens": 1}, timeout=1).status_code == 429
        except httpx.ReadTimeout:
            return False

    with httpx.Client(timeout=60) as http, http.stream("POST", url, json=_long(True)) as running:
        lines = running.iter_lines()
        assert next(line for line in lines if '"content":"' in line and '"content":""' not in line)  # decoding
        if stream:
            with (
                httpx.Client(timeout=60) as queued_client,
                queued_client.stream("POST", url, json=_long(True)) as queued,
            ):
                assert queued.status_code == 200
                assert queue_is_full()
        else:
            hung_up = threading.Thread(
                target=lambda: pytest.raises(httpx.ReadTimeout, httpx.post, url, json=_long(False), timeout=2)
            )
            hung_up.start()
            time.sleep(0.5)
            assert queue_is_full()
            hung_up.join()
        # The queued client left: the next caller is queued, not refused with 429.
        time.sleep(0.2)
        assert not queue_is_full()
        assert not queue_is_full()  # nor is the slot of that caller, who hung up in turn


def test_api_answers_503_model_not_ready_while_loading(share, start_server):
    gate = threading.Event()

    def load_when_allowed(settings):
        assert gate.wait(timeout=30)
        return model_loader.load(settings)

    server = start_server(
        {"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true"}, load=load_when_allowed, ready=False
    )
    try:
        for method, path, body in [("POST", "/v1/chat/completions", {"messages": USER}), ("GET", "/v1/models", None)]:
            response = httpx.request(method, server.url + path, json=body)
            assert response.status_code == 503
            error = check("ErrorResponse", response.json())["error"]
            assert (error["code"], error["message"]) == (
                "model_not_ready",
                "model not ready: the model is still loading",
            )
    finally:
        gate.set()
