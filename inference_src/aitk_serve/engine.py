"""Generation on transformers' continuous batching: requests join and leave the running batch between steps.

The library's `ContinuousBatchingManager` owns the model on its own thread: paged KV cache, scheduler,
chunked prefill, one forward pass per step for every running request. This module adds what a server
promises on top of it: a bounded queue of its own (a queued request that is cancelled leaves at once and
is never prefilled), per-request sampling (sampling.StepSampler, through the library's per-request
logits processor slot), text deltas with stop strings, logprobs and JSON-constrained decoding, and
failures that end only the request they belong to. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from transformers import ContinuousBatchingConfig, GenerationConfig

from .grammar import GrammarCompiler
from .model_loader import LoadedModel
from .sampling import RequestSampler, StepSampler
from .text_stream import TextStream

log = logging.getLogger("aitk_serve")

# Prompt tokens per forward pass: long prompts are prefilled in chunks of this size, between decode
# steps of the running requests (vLLM's max_num_batched_tokens plays this part).
PREFILL_TOKENS = 2048
_PAGE_TOKENS = 256  # tokens per KV-cache page (the library's default)
_CPU_CACHE_SHARE = 0.25  # at most this share of the machine's memory for the KV cache on CPU


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
    """One request in the engine: an async stream of text deltas; cancel() frees its queue or batch slot."""

    def __init__(
        self,
        prompt_ids: Sequence[int],
        params: SamplingParams,
        loop: asyncio.AbstractEventLoop,
        on_cancel: Callable[[Generation], None],
    ):
        self.prompt_ids = list(prompt_ids)
        self.params = params
        self.completion_tokens = 0
        self.submitted_at = time.monotonic()
        self.first_token_at: float | None = None
        self._loop = loop
        self._events: asyncio.Queue = asyncio.Queue()
        self._on_cancel = on_cancel
        self._cancelled = False

    def cancel(self) -> None:
        """Safe to call more than once and after the end; thread-safe."""
        if not self._cancelled:
            self._cancelled = True
            self._on_cancel(self)

    def emit(self, item: Delta | Exception) -> None:
        """Called from any thread."""
        _emit_all([(self, item)])

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


def _emit_all(items: Sequence[tuple[Generation, Delta | Exception]]) -> None:
    """Hand items to their consumers: one wake-up of each event loop for all of them (a step's tokens)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, Delta | Exception]]] = {}
    for gen, item in items:
        if isinstance(item, Delta) and gen.first_token_at is None:
            gen.first_token_at = time.monotonic()
        by_loop.setdefault(gen._loop, []).append((gen, item))
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, batch)
        except RuntimeError:  # the consumers' event loop is gone
            for gen, _ in batch:
                gen.cancel()


def _put_all(items: list[tuple[Generation, Delta | Exception]]) -> None:
    for gen, item in items:
        gen._events.put_nowait(item)


class _Running:
    """A request handed to the library, as the engine's output side sees it."""

    def __init__(self, gen: Generation, sampler: RequestSampler, text: TextStream, stop_ids: frozenset[int]):
        self.gen = gen
        self.sampler = sampler
        self.text = text
        self.stop_ids = stop_ids
        self.seen = 0  # generated tokens already handled


class Engine:
    def __init__(self, loaded: LoadedModel, max_batch_size: int, max_queue: int):
        self.loaded = loaded
        self._max_batch = max_batch_size
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._waiting: deque[Generation] = deque()
        self._running: dict[str, _Running] = {}
        self._samplers: dict[str, RequestSampler] = {}  # read by StepSampler on the library's thread
        self._ids = itertools.count()
        self._stopping = threading.Event()
        self._grammars = GrammarCompiler(loaded.tokenizer, loaded.model.config.get_text_config().vocab_size)
        self._token_texts: dict[int, tuple[str, tuple[int, ...]]] = {}
        self.on_step: Callable[[int], None] = lambda batch_size: None  # observer, e.g. a metrics histogram
        self._manager = _start_manager(loaded, max_batch_size, StepSampler(self._samplers, lambda n: self.on_step(n)))

    # -- event-loop side --
    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, prompt_ids: Sequence[int], params: SamplingParams) -> Generation:
        """Queue a request; raises QueueFullError when the bounded queue is full, ValueError for a schema the
        grammar library refuses."""
        if params.json_schema is not None:
            self._grammars.check(params.json_schema)
        gen = Generation(prompt_ids, params, asyncio.get_running_loop(), self._cancel)
        with self._lock:
            if len(self._waiting) >= self._max_queue and len(self._running) + len(self._waiting) >= self._max_batch:
                raise QueueFullError(retry_after=1 + len(self._waiting) // self._max_batch)
            self._waiting.append(gen)
            failed = self._admit()
        self._fail(failed)
        return gen

    def _cancel(self, gen: Generation) -> None:
        with self._lock:
            if gen in self._waiting:
                self._waiting.remove(gen)  # leaves the queue now: never prefilled
            else:
                running = next((rid for rid, r in self._running.items() if r.gen is gen), None)
                if running is None:
                    return  # already over
                self._forget(running)
                self._manager.cancel_request(running)
            failed = self._admit()
        gen.emit(Delta("", "abort"))  # ends a consumer still waiting (non-streaming request)
        self._fail(failed)

    # -- admission (lock held) --
    def _admit(self) -> list[tuple[Generation, Exception]]:
        """Hand queued requests to the library while batch slots are free; the ones that could not start."""
        failed = []
        while self._waiting and len(self._running) < self._max_batch:
            gen = self._waiting.popleft()
            try:
                self._start(gen)
            except Exception as exc:  # a request that cannot start fails alone
                log.warning("request could not start: %s: %s", type(exc).__name__, exc)
                failed.append((gen, GenerationError(f"generation failed: {type(exc).__name__}")))
        return failed

    def _start(self, gen: Generation) -> None:
        params = gen.params
        eos = frozenset() if params.ignore_eos else self.loaded.eos_token_ids
        stop_ids = eos | frozenset(params.stop_token_ids)
        grammar = None if params.json_schema is None else self._grammars.matcher(params.json_schema)
        sampler = RequestSampler(params, gen.prompt_ids, stop_ids, grammar)
        request_id = f"aitk-{next(self._ids)}"
        self._samplers[request_id] = sampler
        self._running[request_id] = _Running(gen, sampler, TextStream(self.loaded.tokenizer, params.stop), stop_ids)
        accepted = self._manager.add_request(
            gen.prompt_ids,
            request_id=request_id,
            max_new_tokens=params.max_tokens,
            streaming=True,
            eos_token_id=sorted(stop_ids),
        )
        if accepted is None:  # the library's loop is stopping or died
            self._forget(request_id)
            raise RuntimeError("the generation loop is not running")

    def _forget(self, request_id: str) -> None:
        self._running.pop(request_id, None)
        self._samplers.pop(request_id, None)

    @staticmethod
    def _fail(failed: list[tuple[Generation, Exception]]) -> None:
        for gen, error in failed:
            gen.emit(error)

    # -- the serving thread --
    def warm_up(self, prompt_ids: Sequence[int]) -> None:
        """A two-token request through the library's loop before the first user request, so that request does
        not pay for lazy set-up (nor the first JSON request for converting the tokenizer for llguidance)."""
        self._grammars.check('{"type": "object"}')
        request_id = self._manager.add_request(list(prompt_ids), request_id="warm-up", max_new_tokens=2)
        while True:
            output = self._manager.get_result(request_id=request_id, timeout=60)
            if output is None:
                raise RuntimeError("warm-up: the generation loop gave no answer")
            if output.error is not None:
                raise RuntimeError(f"warm-up failed: {output.error}")
            if output.is_finished():
                return

    def serve(self) -> None:
        """Turn the library's outputs into deltas until stop(). No torch work happens here: the library's
        thread is the only one that runs the model. Waits on the library's output queue (woken by each step's
        outputs; when idle, every 0.1 s to see that the library's loop is alive), takes all of a step's outputs
        at once and hands their deltas to the event loop in one call."""
        while not self._stopping.is_set():
            output = self._manager.get_result(timeout=0.1)
            if output is None:
                if not self._manager.is_running() and not self._stopping.is_set():
                    self._restart()
                continue
            emitted: list[tuple[Generation, Delta | Exception]] = []
            while output is not None:
                self._handle(output, emitted)
                output = self._manager.get_result(timeout=0)
            _emit_all(emitted)

    def stop(self) -> None:
        self._stopping.set()
        self._manager.stop(block=True, timeout=30)

    def _restart(self) -> None:
        """The library's loop died (a failed forward pass): fail what it was running, start it again."""
        error = self._manager.background_thread_status.fatal_error
        log.error("generation loop stopped (%s): restarting it", type(error).__name__ if error else "no error")
        with self._lock:
            failed = [(r.gen, GenerationError("generation failed")) for r in self._running.values()]
            self._running.clear()
            self._samplers.clear()
        self._fail(failed)
        self._manager.start()
        with self._lock:
            failed = self._admit()
        self._fail(failed)
        time.sleep(0.1)

    def _handle(self, output, emitted: list[tuple[Generation, Delta | Exception]]) -> None:
        with self._lock:
            running = self._running.get(output.request_id)
        if running is None:
            return  # cancelled, already finished by a stop condition, or the warm-up
        gen, params = running.gen, running.gen.params
        if output.error is not None or running.sampler.error is not None:
            reason = "sampling" if running.sampler.error is not None else "the model"
            self._finish(output.request_id, cancel=not output.is_finished())
            emitted.append((gen, GenerationError(f"generation failed in {reason}")))
            return
        new_tokens = output.generated_tokens[running.seen :]
        running.seen = len(output.generated_tokens)
        text, entries, finish = "", [], None
        for token in new_tokens:
            gen.completion_tokens += 1
            logprob = running.sampler.logprobs.popleft() if running.sampler.logprobs else None
            if token in running.stop_ids:  # the sampler holds these back until min_tokens are out
                finish = "stop"
                text += running.text.flush()
                break
            piece, stopped = running.text.add(token)
            text += piece
            if logprob is not None:
                entries.append(self._logprob_entry(logprob))
            if stopped:
                finish = "stop"
                break
            if gen.completion_tokens >= params.max_tokens:
                finish = "length"
                text += running.text.flush()
                break
        if finish is None and output.is_finished():
            finish = "length"
            text += running.text.flush()
        if finish is not None:
            self._finish(output.request_id, cancel=not output.is_finished())
        if text or entries or finish:
            emitted.append((gen, Delta(text, finish, tuple(entries))))

    def _finish(self, request_id: str, cancel: bool) -> None:
        with self._lock:
            self._forget(request_id)
            if cancel:  # ended by a stop string or token the library does not know about
                self._manager.cancel_request(request_id)
            failed = self._admit()
        self._fail(failed)

    def _logprob_entry(self, logprob: tuple[int, float, tuple[tuple[int, float], ...]]) -> TokenLogprob:
        token, value, alternatives = logprob
        text, raw = self._token_text(token)
        top = []
        for other, other_value in alternatives:
            other_text, other_raw = self._token_text(other)
            top.append((other_text, other_value, other_raw))
        return TokenLogprob(text, value, raw, tuple(top))

    def _token_text(self, token: int) -> tuple[str, tuple[int, ...]]:
        if token not in self._token_texts:
            raw = self._grammars.token_bytes(token)
            self._token_texts[token] = (raw.decode("utf-8", "replace"), tuple(raw))
        return self._token_texts[token]


def _start_manager(loaded: LoadedModel, max_batch_size: int, sampler: StepSampler):
    """The library's continuous-batching manager with our sampler in its logits-processor slot, started."""
    model = loaded.model
    generation = GenerationConfig(do_sample=False, eos_token_id=sorted(loaded.eos_token_ids) or None)
    config = ContinuousBatchingConfig(
        max_requests_per_batch=max_batch_size,
        max_batch_tokens=PREFILL_TOKENS,
        # StepSampler decides per step, in Python, whether and how to sample: it cannot be captured in a CUDA
        # graph, and it reads the step's requests just before that step's forward pass (no async batching).
        use_cuda_graph=False,
        use_async_batching=False,
        max_memory_percent=0.8,  # the library's own figure when logits processors run (GPU)
        num_blocks=_cpu_cache_blocks(loaded, max_batch_size) if loaded.device.type == "cpu" else None,
        page_size=_PAGE_TOKENS,
    )
    manager = model.init_continuous_batching(generation_config=generation, continuous_batching_config=config)
    manager.logit_processor = sampler
    manager.start()
    return manager


def _cpu_cache_blocks(loaded: LoadedModel, max_batch_size: int) -> int:
    """Pages for every slot at the full context, within a share of the machine's memory: on CPU the library
    would take 60% of it."""
    text = loaded.model.config.get_text_config()
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    page_bytes = 2 * text.num_hidden_layers * heads * head_dim * loaded.dtype.itemsize * _PAGE_TOKENS
    wanted = math.ceil(max_batch_size * loaded.max_model_len / _PAGE_TOKENS) + 1
    memory = _physical_memory()
    return max(2, min(wanted, int(memory * _CPU_CACHE_SHARE // page_bytes))) if memory else wanted


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
