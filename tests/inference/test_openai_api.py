"""The official openai and gradio_client packages talk to a live server."""

from __future__ import annotations

import httpx
import openai
from fixtures_models import PHRASE
from gradio_client import Client

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}]


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_openai_client_gets_the_adapters_answer_without_streaming(adapter_server):
    reply = client(adapter_server).chat.completions.create(model="adapter", messages=MESSAGES, temperature=0)
    assert reply.choices[0].message.content == PHRASE
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.completion_tokens > 0


def test_openai_client_streams_chunks_ending_with_finish_reason_and_usage(adapter_server):
    stream = client(adapter_server).chat.completions.create(
        model="adapter", messages=MESSAGES, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PHRASE
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done_marker(adapter_server):
    body = {"messages": MESSAGES, "stream": True, "temperature": 0}
    response = httpx.post(adapter_server.url + "/v1/chat/completions", json=body, timeout=30)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.rstrip().endswith("data: [DONE]")


def test_adapter_changes_the_answer(adapter_server, base_only_server):
    base_reply = client(base_only_server).chat.completions.create(model="tiny-chat", messages=MESSAGES, temperature=0)
    assert base_reply.choices[0].message.content != PHRASE


def test_max_tokens_cuts_the_answer_with_finish_reason_length(adapter_server):
    reply = client(adapter_server).chat.completions.create(
        model="adapter", messages=MESSAGES, temperature=0, max_tokens=2
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 2
    assert PHRASE.startswith(reply.choices[0].message.content)


def test_stop_string_ends_the_answer_before_it(adapter_server):
    reply = client(adapter_server).chat.completions.create(
        model="adapter", messages=MESSAGES, temperature=0, stop=[" the"]
    )
    assert reply.choices[0].message.content == "Ahoy from"
    assert reply.choices[0].finish_reason == "stop"


def test_same_seed_gives_same_sampled_answer(base_only_server):
    ask = dict(model="tiny-chat", messages=MESSAGES, temperature=1.0, top_p=0.9, seed=7, max_tokens=12)
    first = client(base_only_server).chat.completions.create(**ask)
    second = client(base_only_server).chat.completions.create(**ask)
    assert first.choices[0].message.content == second.choices[0].message.content


def test_models_lists_the_adapter_with_its_base_as_parent(adapter_server, share):
    models = client(adapter_server).models.list().data
    assert [m.id for m in models] == ["adapter"]
    card = models[0].model_dump()
    assert card["parent"] == "tiny-chat"
    assert card["aitk"] == {
        "base_model": str(share / "model-cache/tiny-org/tiny-chat"),
        "adapter": str(share / "models/qlora/qlora/gpu_model/adapter"),
        "merged": True,
        "base_only": False,
        "device": "cpu",
        "dtype": "float32",
    }


def test_models_says_base_only_mode(base_only_server):
    card = client(base_only_server).models.list().data[0].model_dump()
    assert card["id"] == "tiny-chat"
    assert card["parent"] is None
    assert card["aitk"]["base_only"] is True
    assert card["aitk"]["adapter"] is None


def test_ready_describes_the_loaded_model(adapter_server, base_only_server):
    assert "+ adapter" in httpx.get(adapter_server.url + "/ready").json()["model"]
    assert "BASE-ONLY" in httpx.get(base_only_server.url + "/ready").json()["model"]


def test_gradio_client_chats_through_the_ui(adapter_server):
    ui = Client(adapter_server.url + "/", verbose=False)
    answer = ui.predict("Hello", "You are terse.", 0.0, 1.0, 32, api_name="/chat")
    assert answer == PHRASE


def test_metrics_count_requests_and_tokens(adapter_server):
    client(adapter_server).chat.completions.create(model="adapter", messages=MESSAGES, temperature=0)
    text = httpx.get(adapter_server.url + "/metrics").text
    assert 'aitk_requests_total{path="/v1/chat/completions",status="200"}' in text
    generated = [line for line in text.splitlines() if line.startswith("aitk_generation_tokens_total")]
    assert float(generated[0].split()[-1]) > 0
    assert "aitk_queue_depth 0.0" in text
    assert "aitk_time_to_first_token_seconds_count" in text
