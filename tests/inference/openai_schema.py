"""Check server answers against the official OpenAI OpenAPI schemas.

openai_schema_subset.json holds, verbatim, the response schemas this server answers with and every
schema they reference, from openai/openai-openapi (openapi.json) at the commit named in its
description.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from jsonschema import Draft202012Validator


def _nullable(node):
    # A few schemas still carry OpenAPI 3.0's `nullable: true`, which JSON Schema does not know.
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


_SCHEMAS = _nullable(json.loads((Path(__file__).with_name("openai_schema_subset.json")).read_text()))["components"][
    "schemas"
]
# The legacy completions stream: OpenAI's schema says chunks share the response's shape, whose
# finish_reason is a string, yet OpenAI's own stream (and vLLM's) sends null until the last chunk.
_SCHEMAS["CompletionStreamChunk"] = copy.deepcopy(_SCHEMAS["CreateCompletionResponse"])
_SCHEMAS["CompletionStreamChunk"]["properties"]["choices"]["items"]["properties"]["finish_reason"] = {
    "anyOf": [
        _SCHEMAS["CreateCompletionResponse"]["properties"]["choices"]["items"]["properties"]["finish_reason"],
        {"type": "null"},
    ]
}


def check(schema: str, instance: dict) -> dict:
    """Raise jsonschema's ValidationError unless `instance` matches components/schemas/<schema>."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": {"schemas": _SCHEMAS}}
    Draft202012Validator(root).validate(instance)
    return instance


def sse_events(text: str) -> list[dict]:
    """The JSON events of an SSE body, checking it ends with `data: [DONE]`."""
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", lines[-3:]
    return [json.loads(line) for line in lines[:-1]]
