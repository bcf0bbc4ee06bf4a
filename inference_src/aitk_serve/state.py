"""What the server is doing: loading, ready with an engine, or failed with a one-line reason."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .engine import Engine
from .errors import NotReadyError
from .prompts import PromptEncoder


@dataclass
class ServerState:
    settings: Settings
    status: str = "loading"  # loading | ready | failed
    reason: str | None = None
    engine: Engine | None = None
    prompts: PromptEncoder | None = None

    def require_engine(self) -> Engine:
        if self.engine is None or self.status != "ready":
            raise NotReadyError(f"model not ready: {self.reason or 'the model is still loading'}")
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

    def headline(self) -> str:
        """The UI header: names, not the share's local paths."""
        if self.engine is None:
            return f"Model not ready ({self.status})"
        loaded = self.engine.loaded
        if loaded.base_only:
            return f"`{loaded.base_name}` (base model only, no adapter)"
        how = "merged" if loaded.merged else "not merged"
        return f"`{loaded.base_name}` + adapter `{loaded.served_name}` ({how})"
