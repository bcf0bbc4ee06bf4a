"""Assemble the server: probes, the OpenAI API under /v1, Gradio UI at /, model loading in the background.

/health answers as soon as the process serves; /ready flips to 200 once the model is loaded and
warmed, or explains in one line why it never will. Domain errors become HTTP statuses here only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import gradio as gr
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import model_loader
from .api_router import api_key_guard, build_probes_router, build_v1_router, key_matches
from .config import Settings
from .engine import Engine, QueueFullError
from .errors import ApiError, ModelLoadError, NotReadyError
from .metrics import Metrics
from .middleware import ApiRequestCounter, BodySizeLimit, BrowserGuard
from .prompts import PromptEncoder
from .serving import ChatService, error_body
from .state import ServerState
from .ui import build_ui

log = logging.getLogger("aitk_serve")
_NOT_A_JSON_OBJECT = "the request body must be a JSON object (Content-Type: application/json)"
_UNSUPPORTED = {
    "tools": "tool calling is not supported by this server: remove tools",
    "tool_choice": "tool calling is not supported by this server: remove tool_choice",
    "functions": "function calling is not supported by this server: remove functions",
    "function_call": "function calling is not supported by this server: remove function_call",
}


def _set_up(settings: Settings, load: Callable) -> tuple[Engine, PromptEncoder]:
    loaded = load(settings)
    vocab_size = min(len(loaded.tokenizer), loaded.model.config.get_text_config().vocab_size)
    prompts = PromptEncoder(loaded.tokenizer, loaded.max_model_len, vocab_size)
    engine = Engine(loaded, settings.max_batch_size, settings.max_queue)
    engine.warm_up(prompts.encode_chat([{"role": "user", "content": "Hello"}]))
    return engine, prompts


def _set_up_on_a_passing_thread(settings: Settings, load: Callable) -> tuple[Engine, PromptEncoder]:
    """Load, merge and warm up on a thread that ends before serving starts. On CPU, a thread that ran parallel
    torch ops (the adapter merge's matmuls) keeps an idle OpenMP worker while it lives; with more such workers
    than cores, libgomp stops spinning between parallel regions, and each of a decode step's hundreds of small
    matmuls then waits for a sleeping worker (figures in inference_src/README.md). A thread that ends frees its
    workers."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aitk-load") as pool:
        return pool.submit(_set_up, settings, load).result()


def _load_and_serve(state: ServerState, metrics: Metrics, load: Callable) -> None:
    """Set up, then serve on this thread (see Engine.serve)."""
    try:
        engine, prompts = _set_up_on_a_passing_thread(state.settings, load)
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
    state.engine, state.prompts, state.status = engine, prompts, "ready"
    log.info("ready: %s", state.describe())
    engine.serve()


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(status_code=error.status, content=error_body(error), headers=error.headers)


def _validation_error(exc: RequestValidationError) -> ApiError:
    # A union (a string or a list of parts) reports one error per member; the deepest one is the
    # member the client meant.
    first = max(exc.errors(), key=lambda error: len(error.get("loc", ())))
    # Union members appear in `loc` under their type names ("str", "list[TextPart]"): not fields.
    loc = [str(part) for part in first.get("loc", ())[1:] if not any(c in str(part) for c in "[(") and part != "str"]
    if first.get("type") == "json_invalid" or not loc:
        return ApiError(400, _NOT_A_JSON_OBJECT)
    field = ".".join(loc)
    if first.get("type") == "extra_forbidden":
        return ApiError(
            400, _UNSUPPORTED.get(field, f"{field} is not supported by this server: remove it"), param=field
        )
    return ApiError(400, f"{field}: {first.get('msg')}", param=field)


def _build_api(state: ServerState, service: ChatService) -> FastAPI:
    """The OpenAI-compatible API as its own app under /v1: its 404s, 405s and errors are OpenAI-shaped."""
    api = FastAPI(
        title="aitk-infer OpenAI API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(api_key_guard(state.settings.api_key))],
    )

    @api.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @api.exception_handler(NotReadyError)
    async def not_ready(_request: Request, exc: NotReadyError) -> JSONResponse:
        return _error_response(ApiError(503, str(exc), type="service_unavailable", code="model_not_ready"))

    @api.exception_handler(QueueFullError)
    async def queue_full(_request: Request, exc: QueueFullError) -> JSONResponse:
        error = ApiError(429, str(exc), type="rate_limit_error", code="queue_full")
        error.headers["Retry-After"] = str(exc.retry_after)
        return _error_response(error)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(_validation_error(exc))

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's own refusals: unknown path (404), wrong method (405, with Allow), a body it
        # cannot decode (400: invalid UTF-8, nesting too deep).
        if exc.status_code == 400:
            return _error_response(ApiError(400, _NOT_A_JSON_OBJECT))
        error = ApiError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")
        error.headers.update(exc.headers or {})
        return _error_response(error)

    @api.exception_handler(Exception)
    async def failed(_request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return _error_response(ApiError(500, f"generation failed: {type(exc).__name__}", type="server_error"))

    api.include_router(build_v1_router(service))
    return api


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

    app = FastAPI(title="aitk-infer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state
    app.add_middleware(BrowserGuard, check_origin=settings.api_key is not None)
    app.add_middleware(ApiRequestCounter, metrics=metrics)
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.include_router(build_probes_router(state, metrics))
    app.mount("/v1", _build_api(state, service))
    ui_auth = None
    if settings.api_key:
        # The browser page is as protected as the API: log in with any user name and the API key as password.
        def ui_auth(_user: str, password: str) -> bool:
            return key_matches(password.encode("utf-8", "surrogatepass"), settings.api_key)

    footer = [] if settings.api_key else ["api"]  # with a key, the chat's Gradio API is undocumented (ui.py)
    return gr.mount_gradio_app(app, build_ui(state, service), path="/", auth=ui_auth, footer_links=footer)
