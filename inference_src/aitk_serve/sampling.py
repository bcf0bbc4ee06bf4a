"""Per-request sampling inside transformers' continuous batching.

The library samples every row of a step with one shared configuration (here: greedy argmax). Its slot for
per-request behaviour is the `ContinuousBatchingLogitsProcessorList` of the manager: told the requests of a
step before the forward pass, given their logits after it. `StepSampler` fills that slot, and switches
itself off for any step in which no row needs it, so a step of plain greedy rows costs what it costs in the
library alone. On the other steps it leaves plain greedy rows to the library's argmax, samples the rows
that only ask for temperature / top_k / top_p / min_p without a seed in one batched pass, and gives the
rest (seeds, penalties, logit_bias, min_tokens, the JSON grammar, logprobs) their own `RequestSampler`.
A row it decided is handed back with only the chosen token finite, which the argmax then takes as is.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import torch
from transformers.generation.continuous_batching.cb_logits_processors import ContinuousBatchingLogitsProcessorList
from transformers.generation.logits_process import LogitsProcessorList

log = logging.getLogger("aitk_serve")

GREEDY_BELOW = 1e-5  # vLLM's threshold: lower temperatures are greedy (dividing by them overflows)


def sample(scores: torch.Tensor, params: Sequence, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of `scores` ([rows, vocab]) with each row's temperature, top_k, min_p and top_p."""
    temperature = scores.new_tensor([p.temperature for p in params])[:, None]
    scores = scores / temperature
    top_k = [p.top_k if 0 < p.top_k < scores.size(1) else scores.size(1) for p in params]
    if min(top_k) < scores.size(1):
        ranked = scores.sort(-1, descending=True).values
        kth = ranked.gather(1, torch.tensor(top_k, device=scores.device)[:, None] - 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = scores.softmax(-1)
    min_p = [p.min_p for p in params]
    if max(min_p) > 0:
        floor = probs.new_tensor(min_p)[:, None] * probs.amax(-1, keepdim=True)
        probs = probs.masked_fill(probs < floor, 0)
    top_p = [p.top_p for p in params]
    if min(top_p) < 1.0:
        ranked, order = probs.sort(-1, descending=True)
        # per row, the smallest set of most likely tokens whose mass reaches top_p (at least one)
        mass = probs.new_tensor(top_p)[:, None] * ranked.sum(-1, keepdim=True)
        ranked = ranked.masked_fill((ranked.cumsum(-1) - ranked) >= mass, 0)
        probs = torch.zeros_like(probs).scatter_(1, order, ranked)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class RequestSampler:
    """One request's sampling state; `choose` runs on the library's generation thread."""

    def __init__(self, params, prompt_ids: Sequence[int], stop_ids: frozenset[int], grammar=None):
        self.params = params
        self.generated: list[int] = []
        self.generator: torch.Generator | None = None  # made on the logits' device at the first token (seeded)
        self.greedy = params.temperature < GREEDY_BELOW
        self.stop_ids = sorted(stop_ids)  # held back until min_tokens are out
        self.grammar = grammar
        # (token, logprob, ((token, logprob), ...)) per chosen token, for the engine's output side.
        self.logprobs: deque[tuple[int, float, tuple[tuple[int, float], ...]]] = deque()
        self.error: Exception | None = None
        p = params
        self._seen = set(prompt_ids)  # what the repetition penalty covers, kept up to date
        self._counts: torch.Tensor | None = None  # of generated tokens, for presence and frequency penalties
        plain = not (
            p.presence_penalty
            or p.frequency_penalty
            or p.repetition_penalty != 1.0
            or p.logit_bias
            or p.min_tokens
            or grammar is not None
            or p.logprobs is not None
        )
        self.plain_greedy = plain and self.greedy  # the library's own argmax gives this row its token
        self.batched = plain and not self.greedy and p.seed is None  # sampled with the step's other such rows

    def choose(self, scores: torch.Tensor) -> int:
        """The next token from this request's row of logits (float32, [vocab]; changed in place)."""
        p = self.params
        if p.logprobs is not None:  # of the model's own distribution, before any processing (as vLLM)
            record = scores.log_softmax(-1)
        self._penalize(scores)
        if p.logit_bias:
            ids, values = zip(*p.logit_bias, strict=True)
            scores[list(ids)] += torch.tensor(values, dtype=scores.dtype, device=scores.device)
        if len(self.generated) < p.min_tokens and self.stop_ids:
            scores[self.stop_ids] = float("-inf")
        if self.grammar is not None:
            self.grammar.mask(scores)
        if self.greedy:
            token = int(scores.argmax())
        else:
            if p.seed is not None and self.generator is None:
                self.generator = torch.Generator(scores.device).manual_seed(p.seed)
            token = int(sample(scores[None], [p], self.generator)[0])
        if self.grammar is not None:
            self.grammar.accept(token)
        if p.logprobs is not None:
            top = record.topk(p.logprobs) if p.logprobs else None
            alternatives = () if top is None else tuple(zip(top.indices.tolist(), top.values.tolist(), strict=True))
            self.logprobs.append((token, float(record[token]), alternatives))
        self.taken(token, scores)
        return token

    def taken(self, token: int, scores: torch.Tensor) -> None:
        """Record the token chosen from this row of scores."""
        self.generated.append(token)
        if self.params.repetition_penalty != 1.0:
            self._seen.add(token)
        if self.params.presence_penalty or self.params.frequency_penalty:
            if self._counts is None:
                self._counts = torch.zeros_like(scores)
            self._counts[token] += 1

    def _penalize(self, scores: torch.Tensor) -> None:
        p = self.params
        if p.repetition_penalty != 1.0:  # as transformers and vLLM: over prompt and output
            seen = torch.tensor(list(self._seen), dtype=torch.long, device=scores.device)
            picked = scores[seen]
            scores[seen] = torch.where(picked > 0, picked / p.repetition_penalty, picked * p.repetition_penalty)
        if self._counts is not None:  # as OpenAI: over the output only
            scores -= p.frequency_penalty * self._counts + p.presence_penalty * (self._counts > 0)


class StepSampler(ContinuousBatchingLogitsProcessorList):
    """The manager's logits-processor slot: on only for steps with a row that the library's argmax cannot serve."""

    def __init__(self, samplers: Mapping[str, RequestSampler], on_step: Callable[[int], None]):
        super().__init__(LogitsProcessorList())  # no tensor arguments: the rows' samplers hold their parameters
        self._samplers = samplers
        self._on_step = on_step
        self._rows: list[RequestSampler | None] = []

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        pass

    def prepare_tensor_args(self, requests_in_batch, arg_storage: torch.Tensor) -> torch.Tensor:
        # Called before the forward pass of the same step, on the same thread (no CUDA graphs, no async batching);
        # the library reads do_processing after that forward pass.
        rows = [self._samplers.get(r.state.request_id) for r in requests_in_batch if r.has_new_token]
        if rows:  # a step that only prefills part of a long prompt samples nothing
            self._on_step(len(rows))
        self._rows = rows
        self.do_processing = any(s is not None and s.error is None and not s.plain_greedy for s in rows)
        return arg_storage

    def __call__(self, input_ids, scores: torch.Tensor, logits_processor_args=None) -> torch.Tensor:
        batched = []
        for i, sampler in enumerate(self._rows):
            if sampler is None or sampler.error is not None or sampler.plain_greedy:
                continue
            if sampler.batched:
                batched.append(i)
                continue
            try:
                self._force(scores, i, sampler.choose(scores[i]))
            except Exception as exc:  # a bad value fails its own request only; the engine ends it
                self._failed(sampler, exc)
        if batched:
            samplers = [self._rows[i] for i in batched]
            try:
                tokens = sample(scores[batched], [s.params for s in samplers]).tolist()
            except Exception:  # one row's bad value: find it by sampling them one by one
                tokens = [self._sample_alone(s, scores[i]) for i, s in zip(batched, samplers, strict=True)]
            for i, sampler, token in zip(batched, samplers, tokens, strict=True):
                if token is not None:
                    sampler.taken(token, scores[i])
                    self._force(scores, i, token)
        return scores

    def _sample_alone(self, sampler: RequestSampler, row: torch.Tensor) -> int | None:
        try:
            return int(sample(row[None], [sampler.params])[0])
        except Exception as exc:
            self._failed(sampler, exc)
            return None

    @staticmethod
    def _failed(sampler: RequestSampler, exc: Exception) -> None:
        log.warning("sampling failed for one request: %s: %s", type(exc).__name__, exc)
        sampler.error = exc

    @staticmethod
    def _force(scores: torch.Tensor, row: int, token: int) -> None:
        scores[row].fill_(float("-inf"))
        scores[row, token] = 0.0
