"""Token ids -> text deltas, holding back text that may turn out to start a stop string.

Detokenizing is the tokenizers library's DecodeStream (constant work per token). The stop-string check
is Knuth-Morris-Pratt, one automaton per stop string, written here because it must tell not only where
a stop string ends but also how much of the text's tail is the start of one (the text to hold back),
which no matcher on PyPI reports for a stream; its cost is linear in the text produced.
"""

from __future__ import annotations

from tokenizers.decoders import DecodeStream


class _Kmp:
    """Streaming matcher for one string: `state` is the length of the longest prefix of it that ends the text."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.state = 0
        self._fallback = [0] * len(pattern)  # the classic prefix function
        k = 0
        for i in range(1, len(pattern)):
            while k and pattern[i] != pattern[k]:
                k = self._fallback[k - 1]
            if pattern[i] == pattern[k]:
                k += 1
            self._fallback[i] = k

    def step(self, char: str) -> bool:
        """Feed one character; True when the pattern ends here."""
        k = self.state
        if k == len(self.pattern):
            k = self._fallback[k - 1]
        while k and char != self.pattern[k]:
            k = self._fallback[k - 1]
        if char == self.pattern[k]:
            k += 1
        self.state = k
        return k == len(self.pattern)


class TextStream:
    def __init__(self, tokenizer, stop: tuple[str, ...]):
        self._tokenizer = tokenizer.backend_tokenizer  # the Rust tokenizer DecodeStream steps with
        self._decoder = DecodeStream(skip_special_tokens=True)
        self._matchers = [_Kmp(s) for s in stop if s]
        self._held = ""  # decoded, not sent: the tail that may start a stop string

    def add(self, token_id: int) -> tuple[str, bool]:
        """The new text that is safe to send, and whether a stop string ended the text (which is then cut before it)."""
        piece = self._decoder.step(self._tokenizer, token_id) or ""
        if not self._matchers:
            return piece, False
        text = self._held + piece
        for i, char in enumerate(piece):
            ended = [m for m in self._matchers if m.step(char)]
            if ended:
                start = len(self._held) + i + 1 - max(len(m.pattern) for m in ended)
                self._held = ""
                return text[:start], True
        keep = max(m.state for m in self._matchers)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """The held-back text, when generation ends for another reason."""
        held, self._held = self._held, ""
        return held
