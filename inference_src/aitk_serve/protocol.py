"""Pydantic models of the OpenAI Chat Completions, Completions and Models schemas (the subset served).

Requests forbid unknown fields: a parameter this server does not implement is refused with a 400
naming it, never silently ignored. Responses follow the official OpenAI OpenAPI description.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_STOP_CHARS = 1000  # longer stop strings cannot end an answer of any sane length
SEED_RANGE = 2**63  # OpenAI's int64 seeds; the engine takes them modulo this


def _valid_unicode(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); nothing downstream (tokenizer, JSON encoder) can.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "lone_surrogate", "contains a lone UTF-16 surrogate: send valid Unicode text"
        ) from None
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
StopString = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STOP_CHARS), AfterValidator(_valid_unicode)]
_NOT_TEXT_PARTS = {
    "image_url": "images are not supported: this model reads text only",
    "input_audio": "audio is not supported: this model reads text only",
    "file": "files are not supported: send the text itself",
}


class Request(BaseModel):
    """Base of the request bodies: unknown fields refused, null meaning the default, finite numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # OpenAI's schema marks optional parameters nullable (e.g. "stream": null, "n": null).
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class TextPart(Request):
    type: Literal["text"]
    text: Text


class ChatMessage(Request):
    # "developer" is OpenAI's newer name for the system role.
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart] = ""

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts_only(cls, value: Any) -> Any:
        for part in value if isinstance(value, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in _NOT_TEXT_PARTS:
                raise PydanticCustomError("unsupported_part", _NOT_TEXT_PARTS[kind])
        return value

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content


class StreamOptions(Request):
    include_usage: bool = False
    include_obfuscation: bool = False  # this server never pads chunks, which is what false asks for


class JsonSchemaFormat(Request):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: Text | None = None
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool = False


class ResponseFormat(Request):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class SamplingRequest(Request):
    """What chat and legacy completions share: sampling (OpenAI's and vLLM's extra parameters) and streaming."""

    model: Text | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    stop: list[StopString] = Field(default_factory=list, max_length=4)
    seed: int | None = Field(default=None, ge=-SEED_RANGE, lt=SEED_RANGE)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] = Field(default_factory=dict)
    response_format: ResponseFormat | None = None
    user: Text | None = None  # an end-user id for abuse tracking: nothing here to track with
    # vLLM's extensions
    top_k: int = Field(default=0, ge=-1)  # 0 or -1: off
    min_p: float = Field(default=0.0, ge=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.0, gt=0.0, le=10.0)
    stop_token_ids: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list, max_length=64)
    min_tokens: int = Field(default=0, ge=0)
    ignore_eos: bool = False  # generate exactly max_tokens (benchmarks)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingRequest):
    # One prompt: text or token ids (batches of prompts are refused: send one request per prompt).
    prompt: Text | list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: Literal[False] = False
    suffix: None = None
    best_of: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=16, ge=1)  # OpenAI's default for this endpoint

    @field_validator("prompt", mode="before")
    @classmethod
    def _one_prompt(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(item, (str, list)) for item in value):
            raise PydanticCustomError(
                "prompt_batch", "batches of prompts are not supported: send one request per prompt"
            )
        return value

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler):
        # The schema lets a delta leave out role and content but never send them as null.
        return {key: value for key, value in handler(self).items() if value is not None}


class ChunkChoice(BaseModel):
    index: int
    delta: DeltaMessage
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: CompletionLogprobs | None = None


class CompletionResponse(BaseModel):
    """A whole completion, and also each streamed chunk (the legacy endpoint uses one shape for both)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ServedModelInfo(BaseModel):
    base_model: str
    adapter: str | None
    merged: bool
    base_only: bool
    device: str
    dtype: str


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "aitk-infer"
    root: str
    parent: str | None = None
    max_model_len: int
    aitk: ServedModelInfo


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"
