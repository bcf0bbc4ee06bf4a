"""Prompt token ids: the chat template's structure as control tokens, what people typed as plain text.

A tokenizer given the rendered template text would turn `<|im_start|>` typed into a message into
the control token, letting a user forge turns. So the template is rendered around markers, its
structure is tokenized with special tokens and each message's text with special tokens split.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from jinja2 import TemplateError

from .errors import ApiError


class PromptEncoder:
    def __init__(self, tokenizer, max_model_len: int, vocab_size: int):
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self.vocab_size = vocab_size
        # The longest token in characters: a text of more than max_model_len times this cannot fit in
        # the context, whatever it tokenizes to (a cheap bound checked before any tokenizing).
        self._chars_per_token = max(len(token) for token in tokenizer.get_vocab())
        # all_special_tokens leaves out added control tokens such as <|im_start|>.
        self._special = [token.content for token in tokenizer.added_tokens_decoder.values() if token.special]

    def check_size(self, texts: Sequence[str], param: str) -> None:
        """Refuse, before tokenizing, text that cannot fit in the context."""
        chars = sum(len(text) for text in texts)
        if chars > self.max_model_len * self._chars_per_token or len(texts) > self.max_model_len:
            raise ApiError(
                400,
                f"the {param} hold {chars} characters in {len(texts)} parts, more than a context of "
                f"{self.max_model_len} tokens can take: shorten the {param}",
                param=param,
                code="context_length_exceeded",
            )

    def encode_chat(self, messages: list[dict]) -> list[int]:
        """Token ids of the conversation through the model's chat template, message text kept as text."""
        self.check_size([m["content"] for m in messages], "messages")
        nonce = secrets.token_hex(8)  # a marker no message can contain by chance
        marked = self._render([{**m, "content": f"<aitk-{nonce}-{i}>"} for i, m in enumerate(messages)])
        pieces = re.split(f"<aitk-{nonce}-([0-9]+)>", marked)
        structure, contents = pieces[0::2], [messages[int(i)]["content"] for i in pieces[1::2]]
        if "".join(s + c for s, c in zip(structure, [*contents, ""], strict=True)) != self._render(messages):
            # The template changes the text it is given (trims it, say): render it whole and make sure
            # no control token came from a message.
            return self._encode_whole(messages)
        # The template already wrote any BOS token it wants: no special tokens added.
        ids_of = self.tokenizer(structure, add_special_tokens=False)["input_ids"]
        ids_of_text = self.tokenizer(contents, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        ids = list(ids_of[0])
        for text_ids, structure_ids in zip(ids_of_text, ids_of[1:], strict=True):
            ids += text_ids + structure_ids
        return ids

    def encode_text(self, prompt: str) -> list[int]:
        """A raw completion prompt, as vLLM reads one: the caller writes any control tokens it means."""
        self.check_size([prompt], "prompt")
        return self.tokenizer(prompt)["input_ids"]

    def _render(self, messages: list[dict]) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError as exc:
            raise ApiError(400, f"the model's chat template rejects these messages: {exc}", param="messages") from None

    def _encode_whole(self, messages: list[dict]) -> list[int]:
        for i, message in enumerate(messages):
            found = next((token for token in self._special if token in message["content"]), None)
            if found:
                raise ApiError(
                    400,
                    f"messages.{i}.content contains the control token {found!r}, which this model's chat "
                    "template cannot keep as text: remove it",
                    param=f"messages.{i}.content",
                )
        return self.tokenizer(self._render(messages), add_special_tokens=False)["input_ids"]
