"""One chat request the way an OpenAI client makes it, recorded as what the client saw: an answer
(with time to first token, and whether a stream ended with [DONE]), an HTTP error, a transport
error, or a timeout. Shared by the hardening tests and bench/load.py."""
import json
import time
from dataclasses import dataclass

import httpx


@dataclass
class Reply:
    outcome: str  # "answer" | "http" | "error" | "timeout"
    stream: bool = False
    status: int | None = None
    started: float = 0.0
    ended: float = 0.0
    first_token_s: float | None = None
    stream_done: bool = False
    retry_after: str | None = None
    error_type: str | None = None
    detail: str = ""


def chat(client: httpx.Client, url: str, prompt: str, stream: bool, max_tokens: int, **extra) -> Reply:
    body = {"messages": [{"role": "user", "content": prompt}], "stream": stream, "max_tokens": max_tokens,
            "temperature": 0, **extra}
    reply = Reply("error", stream=stream, started=time.monotonic())
    try:
        with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            reply.status = response.status_code
            if response.status_code != 200:
                reply.outcome, reply.retry_after = "http", response.headers.get("retry-after")
                response.read()
                reply.error_type = _error_type(response)
                return reply
            if stream:
                _read_stream(response, reply)
            else:
                response.read()
                reply.detail = json.loads(response.text)["choices"][0]["message"]["content"]
                reply.first_token_s = time.monotonic() - reply.started
            reply.outcome = "answer"
    except httpx.TimeoutException as exc:
        reply.outcome, reply.detail = "timeout", type(exc).__name__
    except httpx.TransportError as exc:
        reply.outcome, reply.detail = "error", type(exc).__name__
    finally:
        reply.ended = time.monotonic()
    return reply


def _read_stream(response: httpx.Response, reply: Reply) -> None:
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            reply.stream_done = True
            return
        delta = json.loads(data)["choices"][0]["delta"]
        if delta.get("content") and reply.first_token_s is None:
            reply.first_token_s = time.monotonic() - reply.started


def _error_type(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["type"]
    except (ValueError, KeyError, TypeError):
        return None
