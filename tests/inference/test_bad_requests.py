"""Bad requests get OpenAI-shaped 4xx errors naming the problem."""

from __future__ import annotations

import httpx
import pytest

USER = [{"role": "user", "content": "Hello"}]
LONG = [{"role": "user", "content": "word " * 400}]

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
    ("n above 1", {"messages": USER, "n": 2}, 400, "n", None, "less than or equal to 1"),
    ("five stop strings", {"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", None, "at most 4"),
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


@pytest.mark.parametrize(("name", "body", "status", "param", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_openai_error(adapter_server, name, body, status, param, code, fragment):
    url = adapter_server.url + "/v1/chat/completions"
    if isinstance(body, bytes):
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = httpx.post(url, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"] == code
    assert fragment in error["message"]
    assert error["type"] in ("invalid_request_error", "not_found_error")
