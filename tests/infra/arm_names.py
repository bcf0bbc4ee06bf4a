"""Turns the ARM twin's expressions back into the bicep text they were compiled from.

Only the forms `bicep build` emits for names and simple defaults are handled:
`[variables('x')...]` / `[parameters('x')...]` (bicep: `x...`) and
`[format('{0}/{1}', a, b)]` for child resource names (bicep: parent chain + own name).
"""

import re

_REFERENCE = re.compile(r"\b(?:variables|parameters)\('(\w+)'\)")


class ArmNameError(ValueError):
    pass


def to_bicep_text(value: object) -> str:
    """The bicep source text an ARM value (expression or literal) corresponds to."""
    if isinstance(value, str) and value.startswith("[") and not value.startswith("[["):
        return _REFERENCE.sub(r"\1", value[1:-1])
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == [] or value == {}:
        return "[]" if value == [] else "{}"
    if isinstance(value, int):
        return str(value)
    raise ArmNameError(f"no bicep text known for ARM value {value!r}")


def name_segments(name: str) -> tuple[str, ...]:
    """Bicep text of each segment of an ARM resource name, parents first."""
    if not (name.startswith("[format(") and name.endswith(")]")):
        if name.startswith("["):
            return (to_bicep_text(name),)
        return tuple(to_bicep_text(part) for part in name.split("/"))
    pattern, *args = _split_arguments(name[len("[format(") : -2])
    expected = "'" + "/".join(f"{{{i}}}" for i in range(len(args))) + "'"
    if pattern != expected:
        raise ArmNameError(f"name {name!r}: format pattern {pattern} is not {expected}")
    return tuple(_REFERENCE.sub(r"\1", arg) for arg in args)


def _split_arguments(text: str) -> list[str]:
    """Split a function's argument list at top-level commas (outside quotes and brackets)."""
    args, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    args.append("".join(current).strip())
    return args
