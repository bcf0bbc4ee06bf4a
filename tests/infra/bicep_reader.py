"""A small reader for the parts of a .bicep file its ARM twin must agree on.

It understands top-level `param`, `resource` (including `existing` and `parent:`) and `output`
declarations written one per line, as in infra/provision/inference.bicep. It is not a bicep
parser: anything it does not understand raises BicepReadError rather than being guessed.
"""

import re
from dataclasses import dataclass

_PARAM = re.compile(r"^param\s+(\w+)\s+(\w+)\s*(?:=\s*(.+?))?\s*$")
_OUTPUT = re.compile(r"^output\s+(\w+)\s+(\w+)\s*=")
_RESOURCE = re.compile(
    r"^resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s+(existing\s+)?=\s*(?:if\s*\(.*\)\s*)?\{\s*$"
)
_PROPERTY = re.compile(r"^\s*(\w+):\s*(.+?)\s*$")
_STRING = re.compile(r"'(?:\\.|[^'\\])*'")
_SECURE_TYPES = {"string": "securestring", "object": "secureObject"}


class BicepReadError(ValueError):
    pass


@dataclass(frozen=True)
class BicepParam:
    type: str
    default: str | None  # bicep source text of the default, None when required


@dataclass(frozen=True)
class BicepResource:
    symbol: str
    type: str
    api_version: str
    name_segments: tuple[str, ...]  # bicep source text of each name segment, parents first
    existing: bool


@dataclass(frozen=True)
class BicepTemplate:
    params: dict[str, BicepParam]
    resources: list[BicepResource]
    outputs: dict[str, str]  # name -> type


def read_bicep(text: str) -> BicepTemplate:
    lines = [_strip_comment(line) for line in text.splitlines()]
    params: dict[str, BicepParam] = {}
    outputs: dict[str, str] = {}
    blocks: dict[str, tuple[str, str, bool, dict[str, str]]] = {}
    decorators: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("@"):
            decorators.append(line)
        elif match := _PARAM.match(line):
            name, type_, default = match.groups()
            if default is not None and default[-1] in "[{(":
                raise BicepReadError(f"param {name}: multi-line defaults are not supported by this reader")
            secure = any(d.startswith("@secure(") for d in decorators)
            params[name] = BicepParam(_SECURE_TYPES[type_] if secure else type_, default)
            decorators = []
        elif match := _OUTPUT.match(line):
            outputs[match.group(1)] = match.group(2)
            decorators = []
        elif match := _RESOURCE.match(line):
            symbol, type_, api_version, existing = match.groups()
            end = _block_end(lines, index)
            properties = _top_level_properties(lines[index + 1 : end])
            blocks[symbol] = (type_, api_version, bool(existing), properties)
            index = end
            decorators = []
        elif line.startswith(("param ", "output ", "resource ")):
            raise BicepReadError(f"line {index + 1} is not understood by this reader: {line!r}")
        index += 1
    resources = [
        BicepResource(symbol, type_, api, _name_segments(symbol, blocks), existing)
        for symbol, (type_, api, existing, _) in blocks.items()
    ]
    return BicepTemplate(params, resources, outputs)


def _strip_comment(line: str) -> str:
    # `//` inside a string literal (e.g. a URL) is not a comment.
    masked = _STRING.sub(lambda m: "_" * len(m.group()), line)
    cut = masked.find("//")
    return (line if cut < 0 else line[:cut]).rstrip()


def _depth_change(line: str) -> int:
    code = _STRING.sub("''", line)
    return sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")


def _block_end(lines: list[str], start: int) -> int:
    depth = 0
    for index in range(start, len(lines)):
        depth += _depth_change(lines[index])
        if depth == 0:
            return index
    raise BicepReadError(f"line {start + 1}: resource block is never closed")


def _top_level_properties(body: list[str]) -> dict[str, str]:
    properties: dict[str, str] = {}
    depth = 0
    for line in body:
        if depth == 0 and (match := _PROPERTY.match(line)):
            properties[match.group(1)] = match.group(2)
        depth += _depth_change(line)
    return properties


def _name_segments(symbol: str, blocks: dict) -> tuple[str, ...]:
    properties = blocks[symbol][3]
    if "name" not in properties:
        raise BicepReadError(f"resource {symbol} has no name")
    parent = properties.get("parent")
    if parent is None:
        return (properties["name"],)
    if parent not in blocks:
        raise BicepReadError(f"resource {symbol}: parent {parent} is not a resource of this file")
    return _name_segments(parent, blocks) + (properties["name"],)
