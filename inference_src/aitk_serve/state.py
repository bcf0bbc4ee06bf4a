"""What the server is doing: loading, ready with an engine, or failed with a one-line reason."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .engine import Engine
from .errors import ApiError


@dataclass
class ServerState:
    settings: Settings
    status: str = "loading"  # loading | ready | failed
    reason: str | None = None
    engine: Engine | None = None

    def require_engine(self) -> Engine:
        if self.engine is None or self.status != "ready":
            detail = self.reason or "the model is still loading"
            raise ApiError(503, f"model not ready: {detail}", type="service_unavailable", code="model_not_ready")
        return self.engine

    def describe(self) -> str:
        """One line for people: what is served, or why nothing is."""
        if self.engine is None:
            return f"Model not ready ({self.status}): {self.reason or 'loading...'}"
        loaded = self.engine.loaded
        if loaded.base_only:
            return f"BASE-ONLY mode: base model `{loaded.base_path}` without any adapter"
        how = "merged" if loaded.merged else "not merged"
        return f"Base model `{loaded.base_path}` + adapter `{loaded.adapter_path}` ({how})"
