"""Per-request sampling inside transformers' continuous batching.

The library samples every row of a step with one shared configuration and the global random generator;
its extension point for per-request behaviour is a `ContinuousBatchingLogitsProcessor`, which is told
the requests of the step before the forward pass and gets their logits after it. `StepSampler` is that
processor: it picks each row's token with the request's own parameters and generator and hands the
library a row where only that token is finite, which the library's greedy argmax then takes as is.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.logits_process import LogitsProcessorList

log = logging.getLogger("aitk_serve")

GREEDY_BELOW = 1e-5  # vLLM's threshold: lower temperatures are greedy (dividing by them overflows)


class RequestSampler:
    """One request's sampling state; `choose` runs on the library's generation thread."""

    def __init__(self, params, prompt_ids: Sequence[int], stop_ids: frozenset[int], grammar=None):
        self.params = params
        self.prompt_ids = list(prompt_ids)
        self.generated: list[int] = []
        self.generator = None if params.seed is None else torch.Generator().manual_seed(params.seed)
        self.greedy = params.temperature < GREEDY_BELOW
        self.stop_ids = sorted(stop_ids)  # held back until min_tokens are out
        self.grammar = grammar
        # (token, logprob, ((token, logprob), ...)) per chosen token, for the engine's output side.
        self.logprobs: deque[tuple[int, float, tuple[tuple[int, float], ...]]] = deque()
        self.error: Exception | None = None
        p = params
        self.plain_greedy = self.greedy and not (
            p.presence_penalty
            or p.frequency_penalty
            or p.repetition_penalty != 1.0
            or p.logit_bias
            or p.min_tokens
            or grammar is not None
            or p.logprobs is not None
        )

    def choose(self, logits: torch.Tensor) -> int:
        """The next token from this request's row of logits (float32, [vocab])."""
        p = self.params
        if p.logprobs is not None:  # of the model's own distribution, before any processing (as vLLM)
            self._record = logits.log_softmax(-1)
        scores = logits.clone()
        self._penalize(scores)
        if p.logit_bias:
            ids, values = zip(*p.logit_bias, strict=True)
            scores[list(ids)] += torch.tensor(values, dtype=scores.dtype)
        if len(self.generated) < p.min_tokens and self.stop_ids:
            scores[self.stop_ids] = float("-inf")
        if self.grammar is not None:
            self.grammar.mask(scores)
        token = int(scores.argmax()) if self.greedy else self._sample(scores)
        if self.grammar is not None:
            self.grammar.accept(token)
        if p.logprobs is not None:
            record = self._record
            top = record.topk(p.logprobs) if p.logprobs else None
            alternatives = () if top is None else tuple(zip(top.indices.tolist(), top.values.tolist(), strict=True))
            self.logprobs.append((token, float(record[token]), alternatives))
        self.generated.append(token)
        return token

    def _penalize(self, scores: torch.Tensor) -> None:
        p = self.params
        if p.repetition_penalty != 1.0:  # as transformers and vLLM: over prompt and output
            seen = torch.tensor(sorted(set(self.prompt_ids) | set(self.generated)), dtype=torch.long)
            picked = scores[seen]
            scores[seen] = torch.where(picked > 0, picked / p.repetition_penalty, picked * p.repetition_penalty)
        if (p.presence_penalty or p.frequency_penalty) and self.generated:  # as OpenAI: over the output only
            counts = torch.bincount(torch.tensor(self.generated), minlength=scores.numel())[: scores.numel()]
            scores -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0)

    def _sample(self, scores: torch.Tensor) -> int:
        p = self.params
        scores = scores / p.temperature
        if p.top_k > 0:
            kth = scores.topk(min(p.top_k, scores.numel())).values[-1]
            scores[scores < kth] = float("-inf")
        probs = scores.softmax(-1)
        if p.min_p > 0:
            probs[probs < p.min_p * probs.max()] = 0
        if p.top_p < 1.0:
            ranked, order = probs.sort(descending=True)
            # the smallest set of most likely tokens whose mass reaches top_p (at least one)
            ranked[(ranked.cumsum(0) - ranked) >= p.top_p * ranked.sum()] = 0
            probs = torch.zeros_like(probs).scatter_(0, order, ranked)
        return int(torch.multinomial(probs, 1, generator=self.generator))


class StepSampler(ContinuousBatchingLogitsProcessor):
    """The library's per-request logits processor slot, used for all of our sampling."""

    supported_kwargs: dict[str, type] = {}
    ignored_kwargs: tuple[str, ...] = ()

    def __init__(self, samplers: Mapping[str, RequestSampler], on_step: Callable[[int], None]):
        self._samplers = samplers
        self._on_step = on_step
        self._rows: list[RequestSampler | None] = []

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.fill_(0)

    def prepare_tensor_args(self, requests_with_new_token) -> torch.Tensor:
        # Called before the forward pass of the same step, on the same thread (no CUDA graphs, no async batching).
        self._rows = [self._samplers.get(request.state.request_id) for request in requests_with_new_token]
        return torch.zeros(len(self._rows), dtype=torch.int32)

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        if self._rows:  # a step that only prefills part of a long prompt samples nothing
            self._on_step(len(self._rows))
        tokens = scores.argmax(-1)
        for i, sampler in enumerate(self._rows):
            if sampler is None or sampler.error is not None or sampler.plain_greedy:
                continue
            try:
                tokens[i] = sampler.choose(scores[i])
            except Exception as exc:  # a bad value fails its own request only; the engine ends it
                log.warning("sampling failed for one request: %s: %s", type(exc).__name__, exc)
                sampler.error = exc
        return torch.full_like(scores, float("-inf")).scatter_(1, tokens[:, None], 0.0)

    def as_processor_list(self) -> ContinuousBatchingLogitsProcessorList:
        processors = ContinuousBatchingLogitsProcessorList(LogitsProcessorList([self]))
        processors.tensors_required = 1  # the list counts only the processors it converted itself
        return processors
