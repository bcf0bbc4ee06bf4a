"""Template parameters: the workspace's parameters file overlaid with --parameters, checked
against the template's declared parameters before anything is deployed."""
import json

from azure.cli.core.azclierror import InvalidArgumentValueError

from .workspace import read_json_object, user_path

_TYPES = {"string": str, "securestring": str, "int": int, "bool": bool, "array": list,
          "object": dict, "secureobject": dict}


def _coerce(name, declared, raw, origin):
    """A `name=value` string becomes the declared type, as `az deployment group create` does."""
    kind = declared.lower()
    try:
        if kind == "int":
            return int(raw)
        if kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if kind in ("array", "object", "secureobject"):
            return json.loads(raw)
    except ValueError:
        raise InvalidArgumentValueError(f"{origin}: parameter '{name}' expects {kind}, got "
                                        f"'{raw}'. Fix: pass {name}=<{kind}>") from None
    return raw


def _from_file(path, origin):
    return _from_file_data(read_json_object(user_path(path, "--parameters @"), "pass an ARM parameters "
                                            "file"), origin)


def _from_file_data(data, origin):
    params = data.get("parameters", data)
    if not isinstance(params, dict):
        raise InvalidArgumentValueError(f"{origin}: 'parameters' must be an object")
    return {name: entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
            for name, entry in params.items()}


def parse_overrides(parameters, declared):
    """`--parameters` items: `@file.json`, `name=value`, or a JSON object, in order."""
    values = {}
    for item in [token for group in (parameters or []) for token in group]:
        origin = f"--parameters {item if len(item) < 60 else item[:57] + '...'}"
        if item.startswith("@"):
            values.update(_from_file(item[1:], origin))
        elif item.lstrip().startswith("{"):
            try:
                values.update(_from_file_data(json.loads(item), origin))
            except json.JSONDecodeError as ex:
                raise InvalidArgumentValueError(f"{origin}: invalid JSON ({ex.msg}). Fix: quote "
                                                "the JSON for your shell") from None
        elif "=" in item:
            name, raw = item.split("=", 1)
            spec = declared.get(name)
            values[name] = _coerce(name, spec.get("type", "string"), raw, origin) if spec else raw
        else:
            raise InvalidArgumentValueError(f"{origin}: expected name=value, @file.json or a JSON "
                                            "object. Fix: e.g. --parameters maximumInstanceCount=2")
    return values


def resolve(file_params, overrides, template, file_origin):
    """Merge file values and overrides; drop nulls (the template default applies, as in the
    AI Toolkit's parameters file); check names and types against the template."""
    declared = template.get("parameters") or {}
    merged = {}
    for name, entry in file_params.items():
        merged[name] = (file_origin, entry.get("value") if "value" in entry else entry)
    for name, value in overrides.items():
        merged[name] = ("--parameters", value)
    result = {}
    for name, (origin, value) in merged.items():
        spec = declared.get(name)
        if spec is None:
            raise InvalidArgumentValueError(
                f"{origin}: unknown parameter '{name}'. Fix: use one of "
                f"{', '.join(sorted(declared))}")
        if value is None:
            continue
        expected = _TYPES.get(spec.get("type", "string").lower(), object)
        if isinstance(value, dict) and "reference" in value and origin != "--parameters":
            result[name] = value  # a Key Vault reference, resolved by ARM
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise InvalidArgumentValueError(
                f"{origin}: parameter '{name}' must be {spec.get('type')}, got "
                f"{type(value).__name__}. Fix: correct its value")
        allowed = spec.get("allowedValues")
        if allowed and value not in allowed:
            raise InvalidArgumentValueError(
                f"{origin}: parameter '{name}' must be one of {', '.join(map(str, allowed))}, got "
                f"'{value}'")
        result[name] = {"value": value}
    return result
