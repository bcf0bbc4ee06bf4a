"""OpenAI requests -> prompt tokens and sampling params -> engine -> OpenAI responses.

Each endpoint has a non-streaming half (one response) and a streaming half (SSE lines). Both
validate, tokenize (on a worker thread, so the event loop keeps answering) and queue before they
return, so a refused request gets its HTTP status rather than an in-band error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from .engine import Delta, Generation, SamplingParams
from .errors import ApiError
from .metrics import Metrics
from .protocol import (
    SEED_RANGE,
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessage,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionResponse,
    DeltaMessage,
    ErrorBody,
    ErrorResponse,
    ModelCard,
    ModelList,
    SamplingRequest,
    ServedModelInfo,
    TokenLogprob,
    TopLogprob,
    Usage,
    new_id,
)
from .state import ServerState

Receive = Callable[[], Awaitable[dict]]
_FLOOR_LOGPROB = -9999.0  # OpenAI's stand-in for a token too unlikely to have a finite logprob
_GREEDY_BELOW = 1e-5  # vLLM's threshold: lower temperatures are greedy (dividing by them overflows)


def template_messages(messages: list[ChatMessage]) -> list[dict]:
    return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]


@dataclass
class Submitted:
    """A request in the engine: one generation per choice, sharing one prompt."""

    prompt_ids: list[int]
    generations: list[Generation]
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def usage(self) -> Usage:
        prompt = len(self.prompt_ids)
        completion = sum(gen.completion_tokens for gen in self.generations)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


@dataclass
class _Answer:
    text: str = ""
    finish_reason: str = "stop"
    logprobs: list = field(default_factory=list)


class ChatService:
    def __init__(self, state: ServerState, metrics: Metrics):
        self._state = state
        self._metrics = metrics

    # -- models --
    def models(self) -> ModelList:
        return ModelList(data=[self._card()])

    def model(self, model_id: str) -> ModelCard:
        card = self._card()
        if model_id != card.id:
            raise _unknown_model(model_id, card.id)
        return card

    def _card(self) -> ModelCard:
        loaded = self._state.require_engine().loaded
        adapter = str(loaded.adapter_path) if loaded.adapter_path else None
        return ModelCard(
            id=loaded.served_name,
            root=adapter or str(loaded.base_path),
            parent=None if loaded.base_only else loaded.base_name,
            max_model_len=loaded.max_model_len,
            aitk=ServedModelInfo(
                base_model=str(loaded.base_path),
                adapter=adapter,
                merged=loaded.merged,
                base_only=loaded.base_only,
                device=loaded.device.type,
                dtype=str(loaded.dtype).removeprefix("torch."),
            ),
        )

    # -- chat completions --
    async def submit_chat(self, request: ChatCompletionRequest) -> Submitted:
        """Validate, tokenize and queue a chat request (the HTTP API and the UI both come through here)."""
        if request.top_logprobs is not None and not request.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
        logprobs = (request.top_logprobs or 0) if request.logprobs else None
        prompts = self._state.prompts
        messages = template_messages(request.messages)
        return await self._submit(request, lambda: prompts.encode_chat(messages), "messages", logprobs)

    async def chat_completion(self, request: ChatCompletionRequest, receive: Receive) -> ChatCompletionResponse:
        submitted = await self.submit_chat(request)
        answers = await self._collect(submitted, receive)
        choices = [
            Choice(
                index=i,
                message=AssistantMessage(content=answer.text),
                finish_reason=answer.finish_reason,
                logprobs=ChoiceLogprobs(content=_chat_logprobs(answer.logprobs)) if request.logprobs else None,
            )
            for i, answer in enumerate(answers)
        ]
        return ChatCompletionResponse(
            id=new_id("chatcmpl"),
            created=submitted.created,
            model=submitted.model,
            choices=choices,
            usage=submitted.usage(),
        )

    async def chat_stream(self, request: ChatCompletionRequest) -> AsyncIterator[str]:
        submitted = await self.submit_chat(request)
        return _sse_stream(self._chat_events(submitted, request))

    async def _chat_events(self, submitted: Submitted, request: ChatCompletionRequest) -> AsyncIterator[str]:
        chunk_id = new_id("chatcmpl")

        def event(choices: list[ChunkChoice], usage: Usage | None = None) -> str:
            chunk = ChatCompletionChunk(
                id=chunk_id, created=submitted.created, model=submitted.model, choices=choices, usage=usage
            )
            return _sse(chunk.model_dump_json())

        yield event([ChunkChoice(index=i, delta=DeltaMessage(role="assistant", content="")) for i in range(request.n)])
        async for i, delta in self.deltas(submitted):
            logprobs = ChoiceLogprobs(content=_chat_logprobs(delta.logprobs)) if request.logprobs else None
            if delta.text or delta.logprobs:
                yield event([ChunkChoice(index=i, delta=DeltaMessage(content=delta.text), logprobs=logprobs)])
            if delta.finish_reason:
                yield event([ChunkChoice(index=i, delta=DeltaMessage(), finish_reason=delta.finish_reason)])
        if request.include_usage():
            yield event([], submitted.usage())

    # -- legacy completions --
    async def submit_completion(self, request: CompletionRequest) -> Submitted:
        if request.best_of is not None and request.best_of != request.n:
            raise ApiError(400, "best_of other than n is not supported: leave it out", param="best_of")
        prompts, prompt = self._state.prompts, request.prompt
        if isinstance(prompt, str):
            return await self._submit(request, lambda: prompts.encode_text(prompt), "prompt", request.logprobs)
        if max(prompt) >= prompts.vocab_size:
            raise ApiError(400, f"prompt: token ids must be below {prompts.vocab_size}", param="prompt")
        return await self._submit(request, lambda: list(prompt), "prompt", request.logprobs)

    async def completion(self, request: CompletionRequest, receive: Receive) -> CompletionResponse:
        submitted = await self.submit_completion(request)
        answers = await self._collect(submitted, receive)
        choices = [
            CompletionChoice(
                index=i,
                text=answer.text,
                finish_reason=answer.finish_reason,
                logprobs=_completion_logprobs(answer.logprobs) if request.logprobs is not None else None,
            )
            for i, answer in enumerate(answers)
        ]
        return CompletionResponse(
            id=new_id("cmpl"),
            created=submitted.created,
            model=submitted.model,
            choices=choices,
            usage=submitted.usage(),
        )

    async def completion_stream(self, request: CompletionRequest) -> AsyncIterator[str]:
        submitted = await self.submit_completion(request)
        return _sse_stream(self._completion_events(submitted, request))

    async def _completion_events(self, submitted: Submitted, request: CompletionRequest) -> AsyncIterator[str]:
        chunk_id = new_id("cmpl")
        offsets = [0] * request.n

        def event(choices: list[CompletionChoice], usage: Usage | None = None) -> str:
            chunk = CompletionResponse(
                id=chunk_id, created=submitted.created, model=submitted.model, choices=choices, usage=usage
            )
            # Unlike the chat chunk's, this schema's usage may be absent but not null.
            return _sse(chunk.model_dump_json(exclude={"usage"} if usage is None else None))

        async for i, delta in self.deltas(submitted):
            logprobs = None
            if request.logprobs is not None:
                logprobs = _completion_logprobs(delta.logprobs, offsets[i])
                offsets[i] += sum(len(entry.token) for entry in delta.logprobs)
            yield event(
                [CompletionChoice(index=i, text=delta.text, finish_reason=delta.finish_reason, logprobs=logprobs)]
            )
        if request.include_usage():
            yield event([], submitted.usage())

    # -- shared --
    async def _submit(
        self, request: SamplingRequest, encode: Callable[[], list[int]], prompt_param: str, logprobs: int | None
    ) -> Submitted:
        engine = self._state.require_engine()
        loaded = engine.loaded
        if request.model and request.model != loaded.served_name:
            raise _unknown_model(request.model, loaded.served_name)
        if request.n > self._state.settings.max_batch_size:
            raise ApiError(
                400,
                f"n={request.n} is above this server's batch size of {self._state.settings.max_batch_size}",
                param="n",
            )
        # Tokenizing a long prompt takes a while: never on the event loop, which must keep answering.
        prompt = await asyncio.to_thread(encode)
        params = self._sampling_params(request, prompt, prompt_param, logprobs)
        generations: list[Generation] = []
        try:
            for i in range(request.n):
                seed = None if params.seed is None else (params.seed + i) % SEED_RANGE
                generations.append(engine.submit(prompt, replace(params, seed=seed)))
        except BaseException as exc:
            for gen in generations:  # all choices or none
                gen.cancel()
            if isinstance(exc, ValueError) and str(exc).startswith("json_schema:"):
                raise ApiError(400, f"response_format.{exc}", param="response_format") from None
            raise
        self._metrics.prompt_tokens.inc(len(prompt))
        return Submitted(prompt, generations, loaded.served_name)

    def _sampling_params(
        self, request: SamplingRequest, prompt: Sequence[int], prompt_param: str, logprobs: int | None
    ) -> SamplingParams:
        max_model_len = self._state.prompts.max_model_len
        room = max_model_len - len(prompt)
        if room <= 0:
            raise ApiError(
                400,
                f"the prompt is {len(prompt)} tokens but the context holds {max_model_len}: shorten the {prompt_param}",
                param=prompt_param,
                code="context_length_exceeded",
            )
        limit = self._state.settings.max_new_tokens
        wanted = request.requested_max_tokens()
        if wanted is not None and wanted > limit:
            raise ApiError(400, f"max_tokens={wanted} is above this server's limit of {limit}", param="max_tokens")
        if wanted is not None and wanted > room:
            raise ApiError(
                400,
                f"prompt ({len(prompt)} tokens) + max_tokens ({wanted}) exceeds the context of {max_model_len} tokens",
                param="max_tokens",
                code="context_length_exceeded",
            )
        max_tokens = wanted or min(limit, room)
        if request.min_tokens > max_tokens:
            raise ApiError(400, f"min_tokens={request.min_tokens} is above max_tokens={max_tokens}", param="min_tokens")
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=0.0 if request.temperature < _GREEDY_BELOW else request.temperature,
            top_p=request.top_p,
            top_k=max(request.top_k, 0),
            min_p=request.min_p,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            repetition_penalty=request.repetition_penalty,
            logit_bias=self._logit_bias(request.logit_bias),
            stop=tuple(request.stop),
            stop_token_ids=self._token_ids(request.stop_token_ids, "stop_token_ids"),
            min_tokens=request.min_tokens,
            seed=None if request.seed is None else request.seed % SEED_RANGE,
            ignore_eos=request.ignore_eos,
            logprobs=logprobs,
            json_schema=_json_schema(request),
        )

    def _token_ids(self, ids: Sequence[int], param: str) -> tuple[int, ...]:
        vocab = self._state.prompts.vocab_size
        bad = [i for i in ids if i >= vocab]
        if bad:
            raise ApiError(400, f"{param}: token id {bad[0]} is not below the vocabulary size {vocab}", param=param)
        return tuple(ids)

    def _logit_bias(self, bias: dict[str, float]) -> tuple[tuple[int, float], ...]:
        try:
            ids = [int(key) for key in bias]
        except ValueError:
            raise ApiError(400, "logit_bias keys must be token ids (integers as strings)", param="logit_bias") from None
        if any(i < 0 for i in ids):
            raise ApiError(400, "logit_bias keys must be token ids, 0 or above", param="logit_bias")
        return tuple(zip(self._token_ids(ids, "logit_bias"), bias.values(), strict=True))

    async def _collect(self, submitted: Submitted, receive: Receive) -> list[_Answer]:
        """Wait for every choice; a client that hangs up (queued or running) cancels them at once."""
        answers = [_Answer() for _ in submitted.generations]
        watcher = asyncio.create_task(_cancel_on_disconnect(submitted.generations, receive))
        try:
            async for i, delta in self.deltas(submitted):
                answer = answers[i]
                answer.text += delta.text
                answer.logprobs += delta.logprobs
                answer.finish_reason = delta.finish_reason or answer.finish_reason
        finally:
            watcher.cancel()
        return answers

    async def deltas(self, submitted: Submitted) -> AsyncIterator[tuple[int, Delta]]:
        """Every choice's deltas as they come, tagged with the choice's index; frees the slots however it ends."""
        queue: asyncio.Queue = asyncio.Queue()

        async def pump(index: int, gen: Generation) -> None:
            try:
                async for delta in gen.deltas():
                    queue.put_nowait((index, delta))
            except Exception as exc:
                queue.put_nowait((index, exc))
            queue.put_nowait((index, None))

        pumps = [asyncio.create_task(pump(i, gen)) for i, gen in enumerate(submitted.generations)]
        try:
            running = len(pumps)
            while running:
                index, item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield index, item
        finally:
            for task in pumps:
                task.cancel()
            for gen in submitted.generations:
                self.finish(gen)

    def finish(self, gen: Generation) -> None:
        # Explicitly: an abandoned async generator is finalized late, and the slot must be freed now.
        gen.cancel()
        self._metrics.completion_tokens.inc(gen.completion_tokens)
        self._metrics.latency.observe(time.monotonic() - gen.submitted_at)
        if gen.first_token_at is not None:
            self._metrics.first_token.observe(gen.first_token_at - gen.submitted_at)


def _unknown_model(asked: str, served: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{asked}` does not exist: this server serves `{served}`",
        type="not_found_error",
        param="model",
        code="model_not_found",
    )


def _json_schema(request: SamplingRequest) -> str | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return '{"type": "object"}'
    if fmt.json_schema is None:
        raise ApiError(400, "response_format of type json_schema needs a json_schema", param="response_format")
    return json.dumps(fmt.json_schema.schema_)


def _finite(logprob: float) -> float:
    return logprob if math.isfinite(logprob) else _FLOOR_LOGPROB


def _chat_logprobs(entries) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=entry.token,
            logprob=_finite(entry.logprob),
            bytes=list(entry.bytes),
            top_logprobs=[TopLogprob(token=t, logprob=_finite(lp), bytes=list(b)) for t, lp, b in entry.top],
        )
        for entry in entries
    ]


def _completion_logprobs(entries, offset: int = 0) -> CompletionLogprobs:
    offsets = []
    for entry in entries:
        offsets.append(offset)
        offset += len(entry.token)
    return CompletionLogprobs(
        tokens=[entry.token for entry in entries],
        token_logprobs=[_finite(entry.logprob) for entry in entries],
        top_logprobs=[{t: _finite(lp) for t, lp, _ in entry.top} for entry in entries],
        text_offset=offsets,
    )


def _sse(data: str) -> str:
    return f"data: {data}\n\n"


async def _sse_stream(events: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        async with contextlib.aclosing(events):  # a client that left frees its slots now, not at GC
            async for event in events:
                yield event
    except Exception as exc:  # the headers are gone already: report in-band, as OpenAI does
        yield _sse(ErrorResponse(error=ErrorBody(message=str(exc), type="server_error")).model_dump_json())
    yield _sse("[DONE]")


async def _cancel_on_disconnect(generations: list[Generation], receive: Receive) -> None:
    """Non-streaming requests: the moment the client hangs up (queued or running), free its slots."""
    with contextlib.suppress(asyncio.CancelledError):
        while (await receive())["type"] != "http.disconnect":
            pass
        for gen in generations:
            gen.cancel()


def error_body(error: ApiError) -> dict:
    return ErrorResponse(
        error=ErrorBody(message=error.message, type=error.type, param=error.param, code=error.code)
    ).model_dump()
