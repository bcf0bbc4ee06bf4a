"""The ARM template expression language: tokenizer, parser and evaluator of the syntax tree.

Grammar (what ARM accepts inside ``"[...]"``)::

    expression := primary accessor*
    primary    := 'string' | integer | name '(' [expression (',' expression)*] ')'
    accessor   := '.' name | '[' expression ']'

Functions themselves live in ``functions.py``; this module only knows how to call them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from .errors import ExpressionError
from .interfaces import Context
from .values import lookup, type_name


@dataclass(frozen=True)
class Literal:
    value: str | int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Access:
    target: Node
    key: Node


Node = Literal | Call | Access

TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<integer>-?\d+)
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<punct>[().,\[\]])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # "string", "integer", "name", "punct" or "end"
    text: str
    position: int


def is_expression(text: str) -> bool:
    """ARM evaluates a string as an expression when it is ``[...]`` and does not start ``[[``."""
    return len(text) >= 2 and text[0] == "[" and text[-1] == "]" and text[1] != "["


def unescape(text: str) -> str:
    """A literal string: a leading ``[[`` stands for ``[``."""
    return text[1:] if text.startswith("[[") else text


def tokenize(source: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = TOKEN.match(source, position)
        if match is None:
            start = len(source) - len(source[position:].lstrip())
            raise ExpressionError(
                f"Unable to parse language expression '{source}': the character "
                f"'{source[start]}' at position {start} is not expected."
            )
        kind = match.lastgroup
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


class Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0

    def parse(self) -> Node:
        node = self.expression()
        self.expect_end()
        return node

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, expected: str) -> ExpressionError:
        token = self.peek()
        actual = "the end of the expression" if token.kind == "end" else f"'{token.text}'"
        return ExpressionError(
            f"Unable to parse language expression '{self.source}': expected {expected} "
            f"but found {actual} at position {token.position}."
        )

    def punct(self, text: str) -> None:
        if not (self.peek().kind == "punct" and self.peek().text == text):
            raise self.fail(f"'{text}'")
        self.advance()

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.fail("the end of the expression")

    def expression(self) -> Node:
        node = self.primary()
        while self.peek().kind == "punct" and self.peek().text in ".[":
            if self.advance().text == ".":
                if self.peek().kind != "name":
                    raise self.fail("a property name")
                node = Access(node, Literal(self.advance().text))
            else:
                node = Access(node, self.expression())
                self.punct("]")
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "integer":
            self.advance()
            return Literal(int(token.text))
        if token.kind == "name":
            self.advance()
            self.punct("(")
            args = []
            if not (self.peek().kind == "punct" and self.peek().text == ")"):
                args.append(self.expression())
                while self.peek().kind == "punct" and self.peek().text == ",":
                    self.advance()
                    args.append(self.expression())
            self.punct(")")
            return Call(token.text, tuple(args))
        raise self.fail("a function call, a string or an integer")


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> Node:
    """Parse the inside of ``[...]`` (without the brackets)."""
    return Parser(source).parse()


def calls(node: Node):
    """Every function call in a syntax tree, outermost first."""
    if isinstance(node, Call):
        yield node
        for arg in node.args:
            yield from calls(arg)
    elif isinstance(node, Access):
        yield from calls(node.target)
        yield from calls(node.key)


def evaluate(node: Node, ctx: Context) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Call):
        return ctx.call(node)
    return access(evaluate(node.target, ctx), evaluate(node.key, ctx))


def access(target: Any, key: Any) -> Any:
    if isinstance(target, dict) and isinstance(key, str):
        try:
            return lookup(target, key)[1]
        except KeyError:
            available = ", ".join(target)
            raise ExpressionError(
                f"The language expression property '{key}' doesn't exist, available properties "
                f"are '{available}'."
            ) from None
    if isinstance(target, list) and type_name(key) == "Integer":
        if not 0 <= key < len(target):
            raise ExpressionError(
                f"The language expression property array index '{key}' is out of bounds."
            )
        return target[key]
    raise ExpressionError(
        f"The language expression property '{key}' can't be evaluated on a value of type "
        f"'{type_name(target)}' with a key of type '{type_name(key)}'."
    )
