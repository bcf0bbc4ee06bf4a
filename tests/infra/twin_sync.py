"""Where an ARM twin disagrees with the bicep file it should be the compiled form of."""

from arm_names import name_segments, to_bicep_text
from bicep_reader import BicepTemplate


def twin_differences(bicep: BicepTemplate, twin: dict) -> list[str]:
    return [
        *_differences("parameter", _bicep_params(bicep), _twin_params(twin)),
        *_differences("resource", _bicep_resources(bicep), _twin_resources(twin)),
        *_differences("output", bicep.outputs, {name: o["type"] for name, o in twin["outputs"].items()}),
    ]


def _differences(kind: str, in_bicep: dict, in_twin: dict) -> list[str]:
    return [
        f"{kind} {key}: bicep has {in_bicep.get(key)!r}, twin has {in_twin.get(key)!r}"
        for key in sorted(in_bicep.keys() | in_twin.keys())
        if in_bicep.get(key) != in_twin.get(key)
    ]


def _bicep_params(bicep: BicepTemplate) -> dict:
    return {name: (p.type.lower(), p.default) for name, p in bicep.params.items()}


def _twin_params(twin: dict) -> dict:
    return {
        name: (p["type"].lower(), to_bicep_text(p["defaultValue"]) if "defaultValue" in p else None)
        for name, p in twin["parameters"].items()
    }


def _bicep_resources(bicep: BicepTemplate) -> dict:
    # `existing` resources are only referenced: bicep emits no resource for them.
    return {(r.type, r.name_segments): r.api_version for r in bicep.resources if not r.existing}


def _twin_resources(twin: dict) -> dict:
    return {(r["type"], name_segments(r["name"])): r["apiVersion"] for r in twin["resources"]}
