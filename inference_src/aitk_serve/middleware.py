"""Plain ASGI middleware (Starlette's BaseHTTPMiddleware would hide client disconnects from the
endpoints, and a request nobody waits for must stop): metrics, the body size bound, the UI's guard."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .metrics import Metrics

_API_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")


async def _refuse(send, status: int, message: str, code: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}})
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})


class ApiRequestCounter:
    """Counts /v1 responses by path and status."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        path = scope["path"] if scope["path"] in _API_PATHS else "other"

        async def counting_send(message):
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(path=path, status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


class BodySizeLimit:
    """413 for a body above `limit` bytes, before anything reads it whole: at once when Content-Length
    says so, else as soon as the chunks received pass the limit."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than this server's limit of {self.limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _refuse(send, 413, message, "request_too_large")
        received, started, refused = 0, False, False

        async def bounded_receive():
            nonlocal received, refused
            event = await receive()
            if event["type"] == "http.request" and not refused:
                received += len(event.get("body", b""))
                if received > self.limit:
                    refused = True
                    if not started:
                        await _refuse(send, 413, message, "request_too_large")
                    return {"type": "http.disconnect"}  # the app stops reading; its answer is dropped
            return event

        async def guarded_send(event):
            nonlocal started
            if refused:
                return
            started = started or event["type"] == "http.response.start"
            await send(event)

        await self.app(scope, bounded_receive, guarded_send)


class BrowserGuard:
    """The chat page's requests (everything outside /v1 and the probes):
    - no uploads: the chat has no file input, and Gradio would keep any file of any size;
    - with an API key (a login cookie), no requests from pages of other sites, which the browser would
      send with that cookie (cross-site request forgery)."""

    def __init__(self, app, check_origin: bool):
        self.app = app
        self.check_origin = check_origin

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith("/gradio_api/upload"):
            return await _refuse(send, 403, "uploads are disabled: the chat takes text only", "uploads_disabled")
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if self.check_origin and origin is not None:
            if urlsplit(origin.decode("latin-1")).netloc != headers.get(b"host", b"").decode("latin-1"):
                return await _refuse(
                    send, 403, "cross-origin requests are refused: open the chat page itself", "cross_origin"
                )
        await self.app(scope, receive, send)
