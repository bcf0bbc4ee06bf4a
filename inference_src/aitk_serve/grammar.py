"""JSON-constrained decoding (response_format json_object / json_schema) with llguidance.

llguidance: a Rust matcher with a wheel for every platform and no Python dependencies (xgrammar pulls
triton and an unpinned torch; outlines-core builds a full index per schema up front; lm-format-enforcer
is pure Python per token). Its matcher computes the allowed tokens lazily, in well under a millisecond
per token for JSON, and reports schema errors before any decoding.
"""

from __future__ import annotations

import threading

import llguidance
import llguidance.hf
import torch


class GrammarCompiler:
    """Compiles schemas against the served tokenizer (converted once, on first use: about a second); also
    tells a token's bytes for logprobs."""

    def __init__(self, tokenizer, vocab_size: int):
        self._hf_tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._tokenizer = None
        self._lock = threading.Lock()

    def _ll_tokenizer(self):
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = llguidance.hf.from_tokenizer(self._hf_tokenizer, n_vocab=self._vocab_size)
            return self._tokenizer

    def _grammar(self, schema: str) -> str:
        # Compact JSON: with free whitespace a small model can pad an answer with blanks until max_tokens.
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
        except ValueError as exc:  # not a JSON object
            raise ValueError(f"json_schema: {exc}") from None
        error = llguidance.LLMatcher.validate_grammar(grammar, self._ll_tokenizer())
        if error:
            raise ValueError(f"json_schema: {error}")
        return grammar

    def token_bytes(self, token: int) -> bytes:
        """A token's exact bytes (part of a character, for byte-level tokens), whatever the tokenizer's kind."""
        return self._ll_tokenizer().decode_bytes([token])

    def check(self, schema: str) -> None:
        """Raises ValueError, naming the problem, for a schema that cannot constrain decoding."""
        self._grammar(schema)

    def matcher(self, schema: str) -> JsonGrammar:
        return JsonGrammar(llguidance.LLMatcher(self._ll_tokenizer(), self._grammar(schema), log_level=0))


class JsonGrammar:
    """One request's position in its grammar."""

    _BITS = torch.arange(8, dtype=torch.uint8)

    def __init__(self, matcher):
        self._matcher = matcher

    def mask(self, scores: torch.Tensor) -> None:
        """Set the scores of the tokens the grammar does not allow next to -inf (in place)."""
        packed = torch.frombuffer(bytearray(self._matcher.compute_bitmask()), dtype=torch.uint8)
        allowed = ((packed[:, None] >> self._BITS) & 1).flatten().bool()  # little-endian words: bit i = token i
        size = min(allowed.numel(), scores.numel())
        scores[:size].masked_fill_(~allowed[:size], float("-inf"))
        scores[size:] = float("-inf")

    def accept(self, token: int) -> None:
        if not self._matcher.consume_token(token):
            raise ValueError(f"grammar: {self._matcher.get_error()}")
