"""The OpenAI contract: every answer matches the official OpenAPI schema, the parameters vLLM users
reach for work, and what is not implemented is refused by name."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from fixtures_models import BASE_REL, PHRASE
from openai_schema import check, sse_events
from transformers import AutoTokenizer

USER = [{"role": "user", "content": "Hello"}]


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def post(server, path: str, body: dict) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60)


@pytest.fixture(scope="module")
def tokenizer(share):
    return AutoTokenizer.from_pretrained(share / BASE_REL)


def test_chat_response_matches_the_openai_schema(adapter_server):
    body = post(adapter_server, "/v1/chat/completions", {"messages": USER, "temperature": 0}).json()
    check("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": PHRASE, "refusal": None}


def test_chat_stream_chunks_match_the_openai_schema_and_never_send_null_role(adapter_server):
    body = {"messages": USER, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    events = sse_events(post(adapter_server, "/v1/chat/completions", body).text)
    for event in events:
        check("CreateChatCompletionStreamResponse", event)
        assert all(choice["delta"].get("role", "assistant") == "assistant" for choice in event["choices"])
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "role" not in events[1]["choices"][0]["delta"]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_null_stream_and_null_n_mean_the_defaults(adapter_server):
    body = {"messages": USER, "temperature": None, "stream": None, "n": None, "top_p": None, "seed": None}
    response = post(adapter_server, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert len(check("CreateChatCompletionResponse", response.json())["choices"]) == 1


@pytest.mark.parametrize("temperature", [1e-40, 5e-324, 9e-6])
def test_temperature_below_1e_5_is_greedy_not_a_failure(adapter_server, temperature):
    reply = client(adapter_server).chat.completions.create(model="adapter", messages=USER, temperature=temperature)
    assert reply.choices[0].message.content == PHRASE


def test_logprobs_and_top_logprobs_without_streaming(adapter_server):
    body = {"messages": USER, "temperature": 0, "logprobs": True, "top_logprobs": 3}
    reply = check("CreateChatCompletionResponse", post(adapter_server, "/v1/chat/completions", body).json())
    content = reply["choices"][0]["logprobs"]["content"]
    assert len(content) == reply["usage"]["completion_tokens"] - 1  # every token but the end-of-sequence one
    for entry in content:
        assert len(entry["top_logprobs"]) == 3
        assert entry["logprob"] <= 0
        # Greedy: the chosen token is the most likely one.
        assert (entry["top_logprobs"][0]["token"], entry["top_logprobs"][0]["logprob"]) == (
            entry["token"],
            pytest.approx(entry["logprob"]),
        )
    assert "".join(entry["token"] for entry in content).startswith(PHRASE)


def test_logprobs_stream_with_the_tokens_they_describe(adapter_server):
    body = {"messages": USER, "temperature": 0, "logprobs": True, "top_logprobs": 1, "stream": True}
    events = [
        check("CreateChatCompletionStreamResponse", e)
        for e in sse_events(post(adapter_server, "/v1/chat/completions", body).text)
    ]
    entries = [entry for e in events for c in e["choices"] if c.get("logprobs") for entry in c["logprobs"]["content"]]
    plain = post(adapter_server, "/v1/chat/completions", {**body, "stream": False}).json()
    assert entries == plain["choices"][0]["logprobs"]["content"]


def test_openai_client_reads_logprobs(adapter_server):
    reply = client(adapter_server).chat.completions.create(
        model="adapter", messages=USER, temperature=0, logprobs=True, top_logprobs=2
    )
    assert reply.choices[0].logprobs.content[0].top_logprobs[0].token == reply.choices[0].logprobs.content[0].token


def test_n_choices_are_each_generated(adapter_server):
    reply = client(adapter_server).chat.completions.create(model="adapter", messages=USER, temperature=0, n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert [c.message.content for c in reply.choices] == [PHRASE] * 3
    single = client(adapter_server).chat.completions.create(model="adapter", messages=USER, temperature=0)
    assert reply.usage.completion_tokens == 3 * single.usage.completion_tokens
    assert reply.usage.prompt_tokens == single.usage.prompt_tokens


def test_seeded_n_choices_differ_and_repeat_exactly(base_only_server):
    ask = dict(model="tiny-chat", messages=USER, temperature=1.0, seed=11, n=3, max_tokens=12)
    first = client(base_only_server).chat.completions.create(**ask)
    second = client(base_only_server).chat.completions.create(**ask)
    answers = [c.message.content for c in first.choices]
    assert answers == [c.message.content for c in second.choices]
    assert len(set(answers)) > 1  # each choice has its own seed


def test_n_choices_stream_with_their_indexes(adapter_server):
    body = {"messages": USER, "temperature": 0, "n": 2, "stream": True}
    events = [
        check("CreateChatCompletionStreamResponse", e)
        for e in sse_events(post(adapter_server, "/v1/chat/completions", body).text)
    ]
    for index in (0, 1):
        text = "".join(c["delta"].get("content", "") for e in events for c in e["choices"] if c["index"] == index)
        finishes = [
            c["finish_reason"] for e in events for c in e["choices"] if c["index"] == index and c["finish_reason"]
        ]
        assert (text, finishes) == (PHRASE, ["stop"])


def test_top_k_1_and_min_p_1_are_greedy(base_only_server):
    ask = dict(model="tiny-chat", messages=USER, max_tokens=12, seed=3)
    greedy = client(base_only_server).chat.completions.create(**ask, temperature=0).choices[0].message.content
    for extra in ({"top_k": 1}, {"min_p": 1.0}):
        reply = client(base_only_server).chat.completions.create(**ask, temperature=1.5, extra_body=extra)
        assert reply.choices[0].message.content == greedy, extra


@pytest.mark.parametrize(
    "penalty", [{"presence_penalty": 2.0}, {"frequency_penalty": 2.0}, {"repetition_penalty": 2.0}], ids=str
)
def test_penalties_change_a_repetitive_answer(base_only_server, penalty):
    body = {"messages": USER, "temperature": 0, "max_tokens": 40, "ignore_eos": True}
    plain = post(base_only_server, "/v1/chat/completions", body).json()["choices"][0]["message"]["content"]
    penalized = post(base_only_server, "/v1/chat/completions", {**body, **penalty}).json()
    assert penalized["choices"][0]["message"]["content"] != plain


def test_logit_bias_forces_a_token(base_only_server, tokenizer):
    token = tokenizer("Paris", add_special_tokens=False)["input_ids"][0]
    reply = client(base_only_server).chat.completions.create(
        model="tiny-chat", messages=USER, temperature=0, max_tokens=3, logit_bias={str(token): 100}
    )
    assert reply.choices[0].message.content == tokenizer.decode([token] * 3)


def test_stop_token_ids_end_the_answer(adapter_server, tokenizer):
    second = tokenizer(PHRASE, add_special_tokens=False)["input_ids"][1]
    reply = client(adapter_server).chat.completions.create(
        model="adapter", messages=USER, temperature=0, extra_body={"stop_token_ids": [second]}
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == 2
    assert PHRASE.startswith(reply.choices[0].message.content)


def test_min_tokens_holds_back_the_end_of_the_answer(adapter_server):
    reply = client(adapter_server).chat.completions.create(
        model="adapter", messages=USER, temperature=0, max_tokens=30, extra_body={"min_tokens": 20}
    )
    assert reply.usage.completion_tokens >= 20


def test_response_format_json_object_constrains_the_answer_to_json(base_only_server):
    ask = dict(model="tiny-chat", messages=USER, temperature=0, max_tokens=40)
    free = client(base_only_server).chat.completions.create(**ask).choices[0].message.content
    reply = client(base_only_server).chat.completions.create(**ask, response_format={"type": "json_object"})
    text = reply.choices[0].message.content
    # A random tiny model need not close its object within max_tokens; what it wrote is JSON's start.
    assert not free.lstrip().startswith("{")
    assert text.lstrip().startswith("{")
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_response_format_json_schema_follows_the_schema(base_only_server):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    reply = client(base_only_server).chat.completions.create(
        model="tiny-chat",
        messages=USER,
        temperature=0,
        max_tokens=100,
        response_format={"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}},
    )
    assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
    assert isinstance(json.loads(reply.choices[0].message.content)["answer"], int)


def test_completions_answer_a_raw_prompt(adapter_server):
    body = {"prompt": "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "temperature": 0, "max_tokens": 30}
    reply = check("CreateCompletionResponse", post(adapter_server, "/v1/completions", body).json())
    assert reply["choices"][0]["text"] == PHRASE
    assert reply["object"] == "text_completion"


def test_completions_take_token_ids_and_default_to_16_tokens(base_only_server, tokenizer):
    ids = tokenizer("Hello there", add_special_tokens=False)["input_ids"]
    reply = client(base_only_server).completions.create(
        model="tiny-chat", prompt=ids, temperature=0, extra_body={"ignore_eos": True}
    )
    assert reply.usage.prompt_tokens == len(ids)
    assert reply.usage.completion_tokens == 16
    assert reply.choices[0].finish_reason == "length"


def test_completions_stream_and_logprobs(adapter_server):
    body = {
        "prompt": "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
        "temperature": 0,
        "logprobs": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = [check("CompletionStreamChunk", e) for e in sse_events(post(adapter_server, "/v1/completions", body).text)]
    choices = [c for e in events for c in e["choices"]]
    assert "".join(c["text"] for c in choices) == PHRASE
    assert choices[-1]["finish_reason"] == "stop"
    tokens = [t for c in choices for t in c["logprobs"]["tokens"]]
    offsets = [o for c in choices for o in c["logprobs"]["text_offset"]]
    assert offsets == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    assert all(len(top) == 2 for c in choices for top in c["logprobs"]["top_logprobs"])
    assert events[-1]["usage"]["completion_tokens"] == len(tokens) + 1  # the end-of-sequence token has no text
    plain = check("CreateCompletionResponse", post(adapter_server, "/v1/completions", {**body, "stream": False}).json())
    assert plain["choices"][0]["logprobs"]["tokens"] == tokens


def test_retrieve_model_by_id(adapter_server):
    model = client(adapter_server).models.retrieve("adapter")
    assert model.id == "adapter"
    check("Model", httpx.get(adapter_server.url + "/v1/models/adapter").json())
    check("ListModelsResponse", httpx.get(adapter_server.url + "/v1/models").json())
    with pytest.raises(openai.NotFoundError):
        client(adapter_server).models.retrieve("gpt-4")
    missing = httpx.get(adapter_server.url + "/v1/models/gpt-4")
    assert check("ErrorResponse", missing.json())["error"]["code"] == "model_not_found"


def test_get_on_chat_completions_is_405_in_openai_shape(adapter_server):
    response = httpx.get(adapter_server.url + "/v1/chat/completions")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "GET /v1/chat/completions" in check("ErrorResponse", response.json())["error"]["message"]


def test_unknown_v1_path_is_an_openai_404_not_gradios(adapter_server):
    response = httpx.post(adapter_server.url + "/v1/embeddings", json={"input": "x"})
    assert response.status_code == 404
    assert "POST /v1/embeddings" in check("ErrorResponse", response.json())["error"]["message"]
