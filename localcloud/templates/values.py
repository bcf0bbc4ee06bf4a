"""JSON values as the ARM template language sees them: type names, text form, lookups."""

from __future__ import annotations

import json
from typing import Any

from .errors import ExpressionError


def type_name(value: Any) -> str:
    """ARM's name for the type of a JSON value (as used in its error messages)."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    raise TypeError(f"not a JSON value: {value!r}")


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_text(value: Any) -> str:
    """The text ARM makes of a value in string(), format() and concat() (.NET spelling of bools)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return compact_json(value)


def lookup(obj: dict, key: str) -> tuple[str, Any]:
    """ARM property lookup: exact name first, then case-insensitive. Raises KeyError."""
    if key in obj:
        return key, obj[key]
    folded = key.lower()
    for name, value in obj.items():
        if name.lower() == folded:
            return name, value
    raise KeyError(key)


def has_key(obj: dict, key: str) -> bool:
    try:
        lookup(obj, key)
    except KeyError:
        return False
    return True


def strings_in(value: Any):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)


def equal(a: Any, b: Any) -> bool:
    """Deep equality that, unlike Python's, keeps 1 and true apart."""
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def merge_objects(base: dict, extra: dict) -> dict:
    """union() of two objects: keys of ``extra`` win, nested objects merge recursively."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_objects(merged[key], value)
        else:
            merged[key] = value
    return merged


def expect(function: str, value: Any, *types: str) -> Any:
    """Check an argument's ARM type; ``types`` are ARM type names."""
    if type_name(value) not in types:
        wanted = "' or '".join(types)
        raise ExpressionError(
            f"The template language function '{function}' expects its parameter to be of type "
            f"'{wanted}'. The provided value is of type '{type_name(value)}'."
        )
    return value
