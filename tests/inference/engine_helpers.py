"""Running the engine without the server: what app.py does on its loading thread, for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from aitk_serve import model_loader
from aitk_serve.config import load_settings
from aitk_serve.engine import Engine, Generation, SamplingParams
from aitk_serve.prompts import PromptEncoder


def start_engine(share, max_batch_size: int = 8, max_queue: int = 8, **env) -> Engine:
    loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(share), **env}))
    engine = Engine(loaded, max_batch_size=max_batch_size, max_queue=max_queue)
    threading.Thread(target=engine.serve, name="aitk-engine-test", daemon=True).start()
    return engine


def prompt_ids(engine: Engine, text: str) -> list[int]:
    tokenizer = engine.loaded.tokenizer
    return PromptEncoder(tokenizer, engine.loaded.max_model_len, len(tokenizer)).encode_chat(
        [{"role": "user", "content": text}]
    )


async def complete(engine: Engine, ids: Sequence[int], params: SamplingParams) -> tuple[str, str, Generation]:
    """Run one request to the end: (text, finish_reason, generation)."""
    gen = engine.submit(ids, params)
    parts, finish = [], "stop"
    async for delta in gen.deltas():
        parts.append(delta.text)
        finish = delta.finish_reason or finish
    return "".join(parts), finish, gen
