"""FastAPI routes only: probes and metrics, and the OpenAI-compatible /v1 API."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .errors import ApiError
from .metrics import Metrics
from .protocol import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from .serving import ChatService
from .state import ServerState

_SSE_HEADERS = {"Cache-Control": "no-cache"}


def key_matches(presented: bytes, api_key: str) -> bool:
    """Constant-time, on UTF-8 bytes: the header (bytes on the wire) and the UI's login form (text)
    compare the same way, and timing does not reveal how much of the key matched."""
    return hmac.compare_digest(presented, api_key.encode("utf-8"))


def api_key_guard(api_key: str | None):
    """Dependency: the /v1 API needs `Authorization: Bearer <key>` when a key is configured."""

    async def guard(request: Request) -> None:
        if api_key is None:
            return
        # Starlette decodes header bytes as latin-1; re-encoding gives back the bytes the client sent.
        scheme, _, token = request.headers.get("authorization", "").encode("latin-1").partition(b" ")
        if scheme.lower() != b"bearer" or not key_matches(token.strip(), api_key):
            error = ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )
            error.headers["WWW-Authenticate"] = "Bearer"
            raise error

    return guard


def build_probes_router(state: ServerState, metrics: Metrics) -> APIRouter:
    router = APIRouter()

    # `version` lets `az aitk-infer deploy` tell the new code's replica from the old one's.
    version = state.settings.code_version

    @router.get("/health")
    async def health() -> dict:
        return {"status": "ok", "version": version}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        if state.status == "ready":
            return JSONResponse({"status": "ready", "model": state.describe(), "version": version})
        return JSONResponse(
            {"status": state.status, "reason": state.reason or "loading", "version": version}, status_code=503
        )

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def build_v1_router(service: ChatService) -> APIRouter:
    router = APIRouter()

    @router.get("/models")
    async def list_models() -> ModelList:
        return service.models()

    @router.get("/models/{model_id:path}")
    async def retrieve_model(model_id: str) -> ModelCard:
        return service.model(model_id)

    @router.post("/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        if body.stream:
            return StreamingResponse(
                await service.chat_stream(body), media_type="text/event-stream", headers=_SSE_HEADERS
            )
        return await service.chat_completion(body, request.receive)

    @router.post("/completions")
    async def completions(body: CompletionRequest, request: Request):
        if body.stream:
            return StreamingResponse(
                await service.completion_stream(body), media_type="text/event-stream", headers=_SSE_HEADERS
            )
        return await service.completion(body, request.receive)

    return router
