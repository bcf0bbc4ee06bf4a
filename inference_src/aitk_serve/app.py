"""Assemble the server: API routes, Gradio UI at /, and model loading in the background.

/health answers as soon as the process serves; /ready flips to 200 once the model is loaded and
warmed, or explains in one line why it never will.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import model_loader
from .api_router import build_router
from .config import Settings
from .engine import Engine
from .errors import ApiError, ModelLoadError
from .metrics import Metrics
from .serving import ChatService, encode_chat, error_body
from .state import ServerState
from .ui import build_ui

log = logging.getLogger("aitk_serve")
_API_PATHS = ("/v1/chat/completions", "/v1/models")
_NOT_A_JSON_OBJECT = "the request body must be a JSON object (Content-Type: application/json)"


def _load_and_serve(state: ServerState, metrics: Metrics, load: Callable) -> None:
    """Load, warm up and then serve on this one thread (see Engine.serve for why one)."""
    settings = state.settings
    try:
        loaded = load(settings)
        engine = Engine(loaded, settings.max_batch_size, settings.max_queue)
        engine.warm_up(encode_chat(loaded.tokenizer, [{"role": "user", "content": "Hello"}]))
    except ModelLoadError as exc:
        state.status, state.reason = "failed", str(exc)
        log.error("not ready: %s", exc)
        return
    except Exception as exc:  # anything else still leaves a live server that says why it is not ready
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        state.status, state.reason = "failed", f"unexpected {type(exc).__name__}: {first_line}"
        log.error("not ready: %s", state.reason)
        return
    metrics.watch_engine(engine)
    state.engine, state.status = engine, "ready"
    log.info("ready: %s", state.describe())
    engine.serve()


class ApiRequestCounter:
    """Counts /v1 responses by path and status. Plain ASGI on purpose: Starlette's BaseHTTPMiddleware
    would hide client disconnects from the endpoints, and a request nobody waits for must stop."""

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


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(status_code=error.status, content=error_body(error), headers=error.headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid" or not loc:
        return _NOT_A_JSON_OBJECT, None
    field = ".".join(loc)
    return f"{field}: {first.get('msg')}", field


def create_app(settings: Settings, load: Callable = model_loader.load) -> FastAPI:
    state = ServerState(settings)
    metrics = Metrics()
    service = ChatService(state, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        threading.Thread(target=_load_and_serve, args=(state, metrics, load), name="aitk-engine", daemon=True).start()
        yield
        if state.engine is not None:
            state.engine.stop()

    app = FastAPI(title="aitk-infer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = state

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = _validation_message(exc)
        return _error_response(ApiError(400, message, param=field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body it cannot decode: invalid UTF-8, nesting too deep) reach
        # API clients in the OpenAI shape too; the UI's paths keep FastAPI's.
        if not request.url.path.startswith("/v1/"):
            return await http_exception_handler(request, exc)
        message = _NOT_A_JSON_OBJECT if exc.status_code == 400 else f"{exc.detail}: {request.method} {request.url.path}"
        error = ApiError(exc.status_code, message)
        error.headers.update(exc.headers or {})
        return _error_response(error)

    app.add_middleware(ApiRequestCounter, metrics=metrics)
    app.include_router(build_router(state, service, metrics))
    ui_auth = None
    if settings.api_key:
        # The browser page is as protected as the API: log in with any user name and the API key as password.
        def ui_auth(_user: str, password: str) -> bool:
            return hmac.compare_digest(password.encode(), settings.api_key.encode())

    return gr.mount_gradio_app(app, build_ui(state, service), path="/", auth=ui_auth, footer_links=["api"])
