"""Chat completions: OpenAI request -> prompt tokens and sampling params -> engine -> OpenAI response."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from jinja2 import TemplateError

from .engine import Generation, QueueFullError, SamplingParams
from .errors import ApiError
from .metrics import Metrics
from .protocol import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessage,
    Choice,
    ChunkChoice,
    DeltaMessage,
    ErrorBody,
    ErrorResponse,
    ModelCard,
    ModelList,
    ServedModelInfo,
    Usage,
    new_completion_id,
)
from .state import ServerState

_DISCONNECT_POLL_SECONDS = 0.5


def template_messages(messages: list[ChatMessage]) -> list[dict]:
    return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]


def encode_chat(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the whole conversation through the model's own chat template."""
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as exc:
        raise ApiError(400, f"the model's chat template rejects these messages: {exc}", param="messages") from None
    # The template already wrote any BOS token it wants.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class ChatService:
    def __init__(self, state: ServerState, metrics: Metrics):
        self._state = state
        self._metrics = metrics

    def models(self) -> ModelList:
        loaded = self._state.require_engine().loaded
        adapter = str(loaded.adapter_path) if loaded.adapter_path else None
        card = ModelCard(
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
                linear_kernels=loaded.linear_kernels,
            ),
        )
        return ModelList(data=[card])

    def _prepare(self, request: ChatCompletionRequest) -> tuple[list[int], SamplingParams]:
        engine = self._state.require_engine()
        loaded = engine.loaded
        if request.model and request.model != loaded.served_name:
            raise ApiError(
                404,
                f"The model `{request.model}` does not exist: this server serves `{loaded.served_name}`",
                type="not_found_error",
                param="model",
                code="model_not_found",
            )
        prompt = encode_chat(loaded.tokenizer, template_messages(request.messages))
        room = loaded.max_model_len - len(prompt)
        if room <= 0:
            raise ApiError(
                400,
                f"the prompt is {len(prompt)} tokens but the context holds {loaded.max_model_len}: "
                "shorten the messages",
                param="messages",
                code="context_length_exceeded",
            )
        limit = self._state.settings.max_new_tokens
        wanted = request.requested_max_tokens()
        if wanted is not None and wanted > limit:
            raise ApiError(400, f"max_tokens={wanted} is above this server's limit of {limit}", param="max_tokens")
        if wanted is not None and wanted > room:
            raise ApiError(
                400,
                f"prompt ({len(prompt)} tokens) + max_tokens ({wanted}) exceeds the context of "
                f"{loaded.max_model_len} tokens",
                param="max_tokens",
                code="context_length_exceeded",
            )
        params = SamplingParams(
            max_tokens=wanted or min(limit, room),
            temperature=request.temperature,
            top_p=request.top_p,
            stop=tuple(request.stop or ()),
            seed=request.seed,
            ignore_eos=request.ignore_eos,
        )
        return prompt, params

    def start(self, request: ChatCompletionRequest) -> Generation:
        """Validate, encode and queue a request (the HTTP API and the UI both come through here)."""
        prompt, params = self._prepare(request)
        try:
            gen = self._state.require_engine().submit(prompt, params)
        except QueueFullError as exc:
            error = ApiError(429, str(exc), type="rate_limit_error", code="queue_full")
            error.headers["Retry-After"] = str(exc.retry_after)
            raise error from None
        self._metrics.prompt_tokens.inc(len(prompt))
        return gen

    async def chat(
        self, request: ChatCompletionRequest, is_disconnected: Callable[[], Awaitable[bool]]
    ) -> ChatCompletionResponse | AsyncIterator[str]:
        """A full response, or (stream=true) SSE lines. Raises ApiError for refused requests."""
        gen = self.start(request)
        model = self._state.engine.loaded.served_name
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            return self._stream(gen, model, include_usage)
        return await self._complete(gen, model, is_disconnected)

    async def _complete(self, gen: Generation, model: str, is_disconnected) -> ChatCompletionResponse:
        watcher = asyncio.create_task(_cancel_on_disconnect(gen, is_disconnected))
        parts, finish = [], "stop"
        try:
            async for delta in gen.deltas():
                parts.append(delta.text)
                finish = delta.finish_reason or finish
        finally:
            watcher.cancel()
            self.finish(gen)
        return ChatCompletionResponse(
            id=new_completion_id(),
            created=int(time.time()),
            model=model,
            choices=[Choice(message=AssistantMessage(content="".join(parts)), finish_reason=finish)],
            usage=_usage(gen),
        )

    async def _stream(self, gen: Generation, model: str, include_usage: bool) -> AsyncIterator[str]:
        chunk_id, created = new_completion_id(), int(time.time())

        def event(delta: DeltaMessage, finish: str | None = None) -> str:
            chunk = ChatCompletionChunk(
                id=chunk_id,
                created=created,
                model=model,
                choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            )
            return _sse(chunk.model_dump_json())

        try:
            yield event(DeltaMessage(role="assistant", content=""))
            async for delta in gen.deltas():
                if delta.text:
                    yield event(DeltaMessage(content=delta.text))
                if delta.finish_reason:
                    yield event(DeltaMessage(), delta.finish_reason)
            if include_usage:
                usage = ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=[], usage=_usage(gen))
                yield _sse(usage.model_dump_json())
        except Exception as exc:  # headers are gone already: report in-band, as OpenAI does
            body = ErrorResponse(error=ErrorBody(message=str(exc), type="server_error"))
            yield _sse(body.model_dump_json())
        finally:
            self.finish(gen)
        yield _sse("[DONE]")

    def finish(self, gen: Generation) -> None:
        # Explicitly: an abandoned async generator is finalized late, and the slot must be freed now.
        gen.cancel()
        self._metrics.completion_tokens.inc(gen.completion_tokens)
        self._metrics.latency.observe(time.monotonic() - gen.submitted_at)
        if gen.first_token_at is not None:
            self._metrics.first_token.observe(gen.first_token_at - gen.submitted_at)


def _usage(gen: Generation) -> Usage:
    prompt = len(gen.prompt_ids)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=gen.completion_tokens,
        total_tokens=prompt + gen.completion_tokens,
    )


def _sse(data: str) -> str:
    return f"data: {data}\n\n"


async def _cancel_on_disconnect(gen: Generation, is_disconnected) -> None:
    """Non-streaming requests: notice a client that hung up and free its slot."""
    with contextlib.suppress(asyncio.CancelledError):
        while not gen.cancelled:
            if await is_disconnected():
                gen.cancel()
                return
            await asyncio.sleep(_DISCONNECT_POLL_SECONDS)


def error_body(error: ApiError) -> dict:
    return ErrorResponse(
        error=ErrorBody(message=error.message, type=error.type, param=error.param, code=error.code)
    ).model_dump()
