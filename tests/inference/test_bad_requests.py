"""Bad requests get OpenAI-shaped 4xx errors naming the problem."""

from __future__ import annotations

import httpx
import pytest
from openai_schema import check

USER = [{"role": "user", "content": "Hello"}]
LONG = [{"role": "user", "content": "word " * 400}]
SURROGATE = b"{%s}"  # raw bytes: JSON escapes of lone surrogates, which no JSON encoder writes

CASES = [
    # (name, body, status, param, code, message fragment)
    ("malformed JSON", b"{not json", 400, None, None, "must be a JSON object"),
    ("JSON that is not an object", b"[1, 2]", 400, None, None, "must be a JSON object"),
    ("no messages field", {"model": "adapter"}, 400, "messages", None, "Field required"),
    ("empty messages", {"messages": []}, 400, "messages", None, "at least 1 item"),
    ("unknown role", {"messages": [{"role": "robot", "content": "x"}]}, 400, "messages.0.role", None, "'user'"),
    ("temperature too high", {"messages": USER, "temperature": 2.5}, 400, "temperature", None, "less than or equal"),
    ("top_p zero", {"messages": USER, "top_p": 0}, 400, "top_p", None, "greater than 0"),
    ("max_tokens zero", {"messages": USER, "max_tokens": 0}, 400, "max_tokens", None, "greater than or equal to 1"),
    (
        "max_tokens above the server limit",
        {"messages": USER, "max_tokens": 5000},
        400,
        "max_tokens",
        None,
        "above this server's limit of 1024",
    ),
    ("n above the batch size", {"messages": USER, "n": 9}, 400, "n", None, "above this server's batch size of 8"),
    ("five stop strings", {"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", None, "at most 4"),
    ("stop string too long", {"messages": USER, "stop": "x" * 1001}, 400, "stop.0", None, "at most 1000 characters"),
    ("seed above int64", {"messages": USER, "seed": 2**64}, 400, "seed", None, "less than 9223372036854775808"),
    ("seed below int64", {"messages": USER, "seed": -(2**63) - 1}, 400, "seed", None, "greater than or equal"),
    (
        "temperature NaN",
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
        400,
        "temperature",
        None,
        "finite number",
    ),
    (
        "lone surrogate in content",
        SURROGATE % b'"messages": [{"role": "user", "content": "\\ud800"}]',
        400,
        "messages.0.content",
        None,
        "lone UTF-16 surrogate",
    ),
    (
        "lone surrogate in the system prompt",
        SURROGATE % b'"messages": [{"role": "system", "content": "a\\udfffb"}, {"role": "user", "content": "x"}]',
        400,
        "messages.0.content",
        None,
        "lone UTF-16 surrogate",
    ),
    (
        "lone surrogate in a text part",
        SURROGATE % b'"messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}]',
        400,
        "messages.0.content.0.text",
        None,
        "lone UTF-16 surrogate",
    ),
    (
        "lone surrogate in model",
        SURROGATE % b'"model": "\\ud800", "messages": [{"role": "user", "content": "x"}]',
        400,
        "model",
        None,
        "lone UTF-16 surrogate",
    ),
    (
        "tools",
        {"messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}]},
        400,
        "tools",
        None,
        "tool calling is not supported",
    ),
    ("tool_choice", {"messages": USER, "tool_choice": "auto"}, 400, "tool_choice", None, "remove tool_choice"),
    (
        "tool role",
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]},
        400,
        "messages.0.role",
        None,
        "'assistant'",
    ),
    (
        "image part",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        400,
        "messages.0.content",
        None,
        "images are not supported",
    ),
    (
        "unknown parameter",
        {"messages": USER, "frobnicate": 1},
        400,
        "frobnicate",
        None,
        "frobnicate is not supported by this server: remove it",
    ),
    ("store", {"messages": USER, "store": True}, 400, "store", None, "store is not supported"),
    (
        "top_logprobs without logprobs",
        {"messages": USER, "top_logprobs": 2},
        400,
        "top_logprobs",
        None,
        "needs logprobs: true",
    ),
    (
        "top_logprobs above 20",
        {"messages": USER, "logprobs": True, "top_logprobs": 21},
        400,
        "top_logprobs",
        None,
        "less than or equal to 20",
    ),
    (
        "logit_bias key not a token id",
        {"messages": USER, "logit_bias": {"x": 1}},
        400,
        "logit_bias",
        None,
        "keys must be token ids",
    ),
    (
        "logit_bias out of the vocabulary",
        {"messages": USER, "logit_bias": {"100000": 1}},
        400,
        "logit_bias",
        None,
        "not below the vocabulary size",
    ),
    ("logit_bias value", {"messages": USER, "logit_bias": {"5": 101}}, 400, "logit_bias.5", None, "less than or equal"),
    (
        "stop_token_ids out of the vocabulary",
        {"messages": USER, "stop_token_ids": [100000]},
        400,
        "stop_token_ids",
        None,
        "not below the vocabulary size",
    ),
    (
        "min_tokens above max_tokens",
        {"messages": USER, "max_tokens": 2, "min_tokens": 3},
        400,
        "min_tokens",
        None,
        "above max_tokens=2",
    ),
    (
        "penalty out of range",
        {"messages": USER, "presence_penalty": 3},
        400,
        "presence_penalty",
        None,
        "less than or equal to 2",
    ),
    (
        "repetition_penalty zero",
        {"messages": USER, "repetition_penalty": 0},
        400,
        "repetition_penalty",
        None,
        "greater than 0",
    ),
    (
        "json_schema without a schema",
        {"messages": USER, "response_format": {"type": "json_schema"}},
        400,
        "response_format",
        None,
        "needs a json_schema",
    ),
    (
        "json_schema the grammar library refuses",
        {
            "messages": USER,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}},
        },
        400,
        "response_format",
        None,
        "response_format.json_schema",
    ),
    (
        "unknown response_format",
        {"messages": USER, "response_format": {"type": "yaml"}},
        400,
        "response_format.type",
        None,
        "'json_schema'",
    ),
    (
        "prompt longer than the context",
        {"messages": LONG},
        400,
        "messages",
        "context_length_exceeded",
        "but the context holds 256",
    ),
    (
        "prompt plus max_tokens over the context",
        {"messages": USER, "max_tokens": 250},
        400,
        "max_tokens",
        "context_length_exceeded",
        "exceeds the context of 256 tokens",
    ),
    ("unknown model", {"model": "gpt-4", "messages": USER}, 404, "model", "model_not_found", "`gpt-4` does not exist"),
]


COMPLETION_CASES = [
    ("echo", {"prompt": "x", "echo": True}, 400, "echo", None, "Input should be False"),
    ("suffix", {"prompt": "x", "suffix": "y"}, 400, "suffix", None, "Input should be None"),
    ("best_of other than n", {"prompt": "x", "best_of": 2}, 400, "best_of", None, "best_of other than n"),
    ("a batch of prompts", {"prompt": ["a", "b"]}, 400, "prompt", None, "send one request per prompt"),
    ("logprobs above 5", {"prompt": "x", "logprobs": 6}, 400, "logprobs", None, "less than or equal to 5"),
    ("token id out of the vocabulary", {"prompt": [1, 100000]}, 400, "prompt", None, "below"),
    (
        "prompt longer than the context",
        {"prompt": "word " * 400},
        400,
        "prompt",
        "context_length_exceeded",
        "but the context holds 256",
    ),
]


def _post(url: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    return httpx.post(url, json=body)


def _assert_openai_error(response: httpx.Response, status, param, code, fragment) -> None:
    assert response.status_code == status, response.text
    error = check("ErrorResponse", response.json())["error"]
    assert error["param"] == param
    assert error["code"] == code
    assert fragment in error["message"]
    assert error["type"] in ("invalid_request_error", "not_found_error")


@pytest.mark.parametrize(
    ("name", "body", "status", "param", "code", "fragment"), COMPLETION_CASES, ids=[c[0] for c in COMPLETION_CASES]
)
def test_bad_completion_request_gets_openai_error(adapter_server, name, body, status, param, code, fragment):
    _assert_openai_error(_post(adapter_server.url + "/v1/completions", body), status, param, code, fragment)


@pytest.mark.parametrize(("name", "body", "status", "param", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_openai_error(adapter_server, name, body, status, param, code, fragment):
    _assert_openai_error(_post(adapter_server.url + "/v1/chat/completions", body), status, param, code, fragment)
