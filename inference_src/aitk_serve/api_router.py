"""FastAPI routes only: probes, metrics, and the OpenAI-compatible /v1 API."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .errors import ApiError
from .metrics import Metrics
from .protocol import ChatCompletionRequest
from .serving import ChatService
from .state import ServerState


def api_key_guard(api_key: str | None):
    """Dependency: the /v1 API needs `Authorization: Bearer <key>` when a key is configured."""

    async def guard(authorization: str | None = Header(default=None)) -> None:
        if api_key is None:
            return
        scheme, _, token = (authorization or "").partition(" ")
        # Constant-time comparison: response timing must not reveal how much of the key matched.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            error = ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )
            error.headers["WWW-Authenticate"] = "Bearer"
            raise error

    return guard


def build_router(state: ServerState, service: ChatService, metrics: Metrics) -> APIRouter:
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

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(api_key_guard(state.settings.api_key))])

    @v1.get("/models")
    async def list_models():
        return service.models()

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        result = await service.chat(body, request.is_disconnected)
        if hasattr(result, "__aiter__"):
            return StreamingResponse(result, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return result

    router.include_router(v1)
    return router
