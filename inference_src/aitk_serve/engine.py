"""Generation with continuous batching: requests join and leave the running batch between decode steps.

One engine thread owns the model. Each step runs one forward pass for every running request (left
padded rows in one KV cache); new requests are prefilled and join at the next step, finished or
cancelled ones leave. Consumers read text deltas from an asyncio queue. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import torch

from .kv_cache import BatchCache
from .model_loader import LoadedModel

log = logging.getLogger("aitk_serve")

# Padded prompt tokens per prefill forward pass: bounds activation memory when many long prompts
# arrive together (vLLM's max_num_batched_tokens plays this part).
_PREFILL_TOKENS = 8192


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0  # below 1e-5: greedy (as vLLM)
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logit_bias: tuple[tuple[int, float], ...] = ()
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    min_tokens: int = 0
    seed: int | None = None  # the API validates 0 <= seed < 2**63
    ignore_eos: bool = False
    logprobs: int | None = None  # None: none; k >= 0: the chosen token's logprob and k top alternatives
    json_schema: str | None = None  # JSON text of a schema ('{"type": "object"}' for json_object): constrains decoding


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[tuple[str, float, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Delta:
    text: str
    finish_reason: str | None = None  # on the last delta: "stop", "length", or "abort" (cancelled)
    logprobs: tuple[TokenLogprob, ...] = ()  # one per token whose text is in this delta (when requested)


class QueueFullError(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy: retry in {retry_after} s")
        self.retry_after = retry_after


class GenerationError(RuntimeError):
    """The model failed while producing this request's tokens."""


class Generation:
    """One request in the engine: an async stream of text deltas; cancel() frees its batch slot."""

    def __init__(self, prompt_ids: Sequence[int], params: SamplingParams, loop: asyncio.AbstractEventLoop):
        self.prompt_ids = list(prompt_ids)
        self.params = params
        self.completion_tokens = 0
        self.submitted_at = time.monotonic()
        self.first_token_at: float | None = None
        self._loop = loop
        self._events: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def emit(self, item: Delta | Exception) -> None:
        """Called from the engine thread."""
        if isinstance(item, Delta) and self.first_token_at is None:
            self.first_token_at = time.monotonic()
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, item)
        except RuntimeError:  # the consumer's event loop is gone
            self.cancel()

    async def deltas(self) -> AsyncIterator[Delta]:
        try:
            while True:
                item = await self._events.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if item.finish_reason:
                    return
        finally:
            # Finished, failed, or the consumer went away (client disconnect): stop generating for it.
            self.cancel()


class _TextStream:
    """Incremental detokenization that withholds text which may turn out to start a stop string."""

    def __init__(self, tokenizer, stop: tuple[str, ...]):
        self._tokenizer = tokenizer
        self._stop = stop
        self._ids: list[int] = []
        self._sent = 0

    def add(self, token_id: int) -> tuple[str, bool]:
        """The new text that is safe to send, and whether a stop string ended the text."""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return "", False
        hits = [i for i in (text.find(s, max(0, self._sent - len(s))) for s in self._stop) if i >= 0]
        if hits:
            return self._take(text, min(hits)), True
        held = max((n for s in self._stop for n in range(len(s) - 1, 0, -1) if text.endswith(s[:n])), default=0)
        return self._take(text, len(text) - held), False

    def flush(self) -> str:
        return self._take(self._tokenizer.decode(self._ids, skip_special_tokens=True), None)

    def _take(self, text: str, end: int | None) -> str:
        end = len(text) if end is None else max(end, self._sent)
        piece, self._sent = text[self._sent : end], end
        return piece


class _Row:
    def __init__(self, gen: Generation, tokenizer, device: torch.device):
        self.gen = gen
        self.position = len(gen.prompt_ids)
        self.last_token = -1
        self.text = _TextStream(tokenizer, gen.params.stop)
        self.generator = None
        if gen.params.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(gen.params.seed)


class Engine:
    def __init__(self, loaded: LoadedModel, max_batch_size: int, max_queue: int):
        self.loaded = loaded
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._device = loaded.device
        self._num_layers = loaded.model.config.get_text_config().num_hidden_layers
        self._max_batch = max_batch_size
        self._max_queue = max_queue
        self._wake = threading.Condition()
        self._waiting: deque[Generation] = deque()
        self._rows: list[_Row] = []
        self._cache: BatchCache | None = None
        self._stopping = False
        self.on_step: Callable[[int], None] = lambda batch_size: None  # observer, e.g. a metrics histogram
        self._thread: threading.Thread | None = None

    # -- API for the serving layer (event-loop side) --
    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        """Serve on a new thread. The server calls serve() on the thread that loaded the model instead."""
        threading.Thread(target=self.serve, name="aitk-engine", daemon=True).start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def submit(self, prompt_ids: Sequence[int], params: SamplingParams) -> Generation:
        """Queue a request; raises QueueFullError when the bounded queue is full."""
        gen = Generation(prompt_ids, params, asyncio.get_running_loop())
        with self._wake:
            if len(self._waiting) >= self._max_queue and len(self._rows) + len(self._waiting) >= self._max_batch:
                raise QueueFullError(retry_after=1 + len(self._waiting) // self._max_batch)
            self._waiting.append(gen)
            self._wake.notify()
        return gen

    # -- engine thread --
    def warm_up(self, prompt_ids: Sequence[int]) -> None:
        """A two-token request through the real prefill and decode step, on the calling thread, so the
        first user request does not pay for lazy set-up. Its deltas go to a loop nobody runs."""
        loop = asyncio.new_event_loop()
        try:
            gen = Generation(prompt_ids, SamplingParams(max_tokens=2, temperature=0.0), loop)
            with torch.inference_mode():
                self._prefill([gen])
                while self._rows:
                    self._decode_step()
        finally:
            loop.close()

    def serve(self) -> None:
        """Run requests until stop(). All torch work belongs on one thread: each thread that runs torch ops
        gets its own OpenMP team, and an idle team's spinning workers slow the busy one (measured 1.4x)."""
        self._thread = threading.current_thread()
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not (self._stopping or self._rows or self._waiting):
                        self._wake.wait()
                    if self._stopping:
                        return
                    joining = [self._waiting.popleft() for _ in range(min(len(self._waiting), self._free_slots()))]
                try:
                    self._join(joining)
                    self._drop_cancelled()
                    if self._rows:
                        self._decode_step()
                except Exception as exc:  # a failed forward must fail its requests, not the server
                    self._fail_all(joining, exc)

    def _free_slots(self) -> int:
        return max(0, self._max_batch - len(self._rows))

    def _fail_all(self, joining: list[Generation], exc: Exception) -> None:
        log.error("generation failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        error = GenerationError(f"generation failed: {type(exc).__name__}")
        for gen in {id(g): g for g in joining + [row.gen for row in self._rows]}.values():
            gen.emit(error)
        self._rows, self._cache = [], None

    def _forward(self, input_ids, position_ids, attention_mask, cache: BatchCache) -> torch.Tensor:
        out = self._model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :].float()

    def _join(self, joining: list[Generation]) -> None:
        """Prefill the joining requests, together as far as the token budget allows, and add them to the batch."""
        group: list[Generation] = []
        for gen in joining:
            if gen.cancelled:
                gen.emit(Delta("", "abort"))
                continue
            longest = max(len(g.prompt_ids) for g in [*group, gen])
            if group and longest * (len(group) + 1) > _PREFILL_TOKENS:
                self._prefill(group)
                group = []
            group.append(gen)
        if group:
            self._prefill(group)

    def _prefill(self, gens: list[Generation]) -> None:
        """One forward pass over the left-padded prompts; the rows that go on join the running batch."""
        longest = max(len(gen.prompt_ids) for gen in gens)
        pads = [longest - len(gen.prompt_ids) for gen in gens]
        valid = torch.arange(longest, device=self._device) >= torch.tensor(pads, device=self._device)[:, None]
        padded_ids = [[0] * pad + gen.prompt_ids for pad, gen in zip(pads, gens, strict=True)]  # pad id 0: masked
        ids = torch.tensor(padded_ids, device=self._device)
        padded = not bool(valid.all())
        positions = (valid.cumsum(1) - 1).clamp(min=0) if padded else None
        cache = BatchCache(self._num_layers)
        logits = self._forward(ids, positions, valid.long() if padded else None, cache)
        cache.valid = valid
        rows = [_Row(gen, self._tokenizer, self._device) for gen in gens]
        accepted = [self._accept(row, token) for row, token in zip(rows, self._sample(logits, rows), strict=True)]
        kept = [i for i, ok in enumerate(accepted) if ok]
        if not kept:
            return
        if len(kept) < len(rows):
            cache.keep_rows(kept)
        self._rows.extend(rows[i] for i in kept)
        if self._cache is None:
            self._cache = cache
        else:
            self._cache.append(cache)

    def _decode_step(self) -> None:
        ids = torch.tensor([[row.last_token] for row in self._rows], device=self._device)
        positions = torch.tensor([[row.position] for row in self._rows], device=self._device)
        logits = self._forward(ids, positions, self._cache.decode_mask(), self._cache)
        self.on_step(len(self._rows))
        tokens = self._sample(logits, self._rows)
        alive = {id(row) for row, token in zip(self._rows, tokens, strict=True) if self._accept(row, token)}
        for row in self._rows:
            row.position += 1
        self._keep_rows(lambda row: id(row) in alive)

    def _drop_cancelled(self) -> None:
        for row in self._rows:
            if row.gen.cancelled:
                row.gen.emit(Delta("", "abort"))  # ends a consumer still waiting (non-streaming request)
        self._keep_rows(lambda row: not row.gen.cancelled)

    def _keep_rows(self, keep) -> None:
        kept = [i for i, row in enumerate(self._rows) if keep(row)]
        if len(kept) == len(self._rows):
            return
        self._rows = [self._rows[i] for i in kept]
        if not kept:
            self._cache = None
        else:
            self._cache.keep_rows(kept)

    def _sample(self, logits: torch.Tensor, rows: list[_Row]) -> list[int]:
        greedy = logits.argmax(-1).tolist()
        tokens = []
        for i, row in enumerate(rows):
            params = row.gen.params
            if params.temperature == 0:
                tokens.append(greedy[i])
                continue
            probs = torch.softmax(logits[i] / params.temperature, dim=-1)
            ranked, order = probs.sort(descending=True)
            # top-p: keep the smallest set of most likely tokens whose mass reaches top_p (at least one).
            ranked = ranked * ((ranked.cumsum(0) - ranked) < params.top_p)
            tokens.append(int(order[torch.multinomial(ranked, 1, generator=row.generator)]))
        return tokens

    def _accept(self, row: _Row, token: int) -> bool:
        """Record a sampled token and send its text; False when the request is finished."""
        gen = row.gen
        row.last_token = token
        gen.completion_tokens += 1
        if token in self.loaded.eos_token_ids and not gen.params.ignore_eos:
            gen.emit(Delta(row.text.flush(), "stop"))
            return False
        text, stopped = row.text.add(token)
        if stopped:
            gen.emit(Delta(text, "stop"))
            return False
        if gen.completion_tokens >= gen.params.max_tokens:
            gen.emit(Delta(text + row.text.flush(), "length"))
            return False
        if text:
            gen.emit(Delta(text))
        return True


async def complete(engine: Engine, prompt_ids: Sequence[int], params: SamplingParams) -> tuple[str, str, Generation]:
    """Run one request to the end: (text, finish_reason, generation)."""
    gen = engine.submit(prompt_ids, params)
    parts, finish = [], "stop"
    async for delta in gen.deltas():
        parts.append(delta.text)
        finish = delta.finish_reason or finish
    return "".join(parts), finish, gen
