"""The ARM template function library: one table, function name (any case) -> implementation.

Each implementation takes the EvalContext and the evaluated arguments; ``lazy`` functions (if, and,
or, coalesce) take argument thunks instead, so untaken branches are never evaluated (as in ARM).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.arm.exceptions import ArmError

from . import resource_ids
from .errors import ExpressionError
from .hashing import arm_guid, unique_string
from .interfaces import Context
from .places import PARAMETERS
from .values import equal, expect, has_key, lookup, merge_objects, to_text, type_name

DEFAULT_ENVIRONMENT = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
        "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
        "azureFrontDoorEndpointSuffix": "azurefd.net",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class ArmFunction:
    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    lazy: bool = False


FUNCTIONS: dict[str, ArmFunction] = {}


def arm_function(name: str, min_args: int = 0, max_args: int | None = None, lazy: bool = False):
    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name.lower()] = ArmFunction(name, impl, min_args, max_args, lazy)
        return impl
    return register


def resolve_function(name: str, arg_count: int) -> ArmFunction:
    """The function called ``name`` with ``arg_count`` arguments; ExpressionError if there is none."""
    function = FUNCTIONS.get(name.lower())
    if function is None and name.lower().startswith("list"):
        function = ArmFunction(name, functools.partial(list_action, action=name), 2, 2)
    if function is None:
        raise ExpressionError(f"The template function '{name}' is not valid: localcloud's template "
                              "engine does not implement it. Please see https://aka.ms/arm-functions "
                              "for the functions ARM offers.")
    high = function.max_args
    if arg_count < function.min_args or (high is not None and arg_count > high):
        wanted = (f"{function.min_args}" if high == function.min_args else
                  f"at least {function.min_args}" if high is None else f"{function.min_args} to {high}")
        raise ExpressionError(f"The template language function '{function.name}' expects {wanted} "
                              f"argument(s), but {arg_count} were given.")
    return function


def _int(function: str, value: Any) -> int:
    return expect(function, value, "Integer")


def _str(function: str, value: Any) -> str:
    return expect(function, value, "String")


def _strings(function: str, values) -> list[str]:
    return [_str(function, v) for v in values]


# --- deployment: parameters, variables, scope --------------------------------------------------

@arm_function("parameters", 1, 1)
def parameters_(ctx: Context, name):
    return ctx.state.parameter(_str("parameters", name))


@arm_function("variables", 1, 1)
def variables_(ctx: Context, name):
    if ctx.place == PARAMETERS:
        raise ExpressionError("The template function 'variables' is not expected at this location: "
                              "parameter default values cannot use variables.")
    return ctx.state.variable(_str("variables", name))


@arm_function("resourceGroup", 0, 0)
def resource_group(ctx: Context):
    scope = ctx.scope
    return {
        "id": resource_ids.resource_group_id(scope.subscription_id, scope.resource_group),
        "name": scope.resource_group,
        "type": "Microsoft.Resources/resourceGroups",
        "location": scope.location,
        "tags": dict(scope.resource_group_tags),
        "properties": {"provisioningState": "Succeeded"},
    }


@arm_function("subscription", 0, 0)
def subscription(ctx: Context):
    scope = ctx.scope
    return {
        "id": f"/subscriptions/{scope.subscription_id}",
        "subscriptionId": scope.subscription_id,
        "tenantId": scope.tenant_id,
        "displayName": scope.subscription_display_name,
    }


@arm_function("tenant", 0, 0)
def tenant(ctx: Context):
    return {"id": f"/tenants/{ctx.scope.tenant_id}", "tenantId": ctx.scope.tenant_id,
            "countryCode": "US", "displayName": "localcloud"}


@arm_function("deployment", 0, 0)
def deployment(ctx: Context):
    template = ctx.state.template
    shown = {k: template[k] for k in ("$schema", "contentVersion", "metadata") if k in template}
    return {"name": ctx.scope.deployment_name,
            "properties": {"template": shown, "mode": "Incremental", "provisioningState": "Accepted"}}


@arm_function("environment", 0, 0)
def environment(ctx: Context):
    return merge_objects(DEFAULT_ENVIRONMENT, ctx.scope.environment or {})


@arm_function("copyIndex", 0, 2)
def copy_index(ctx: Context, *args):
    loop, offset = None, 0
    if args and isinstance(args[0], str):
        loop, args = args[0], args[1:]
    if args:
        offset = _int("copyIndex", args[0])
    return ctx.copy_index(loop) + offset


# --- resource ids and runtime functions ---------------------------------------------------------

@arm_function("resourceId", 2)
def resource_id(ctx: Context, *args):
    return resource_ids.resource_id(ctx.scope.subscription_id, ctx.scope.resource_group,
                                    _strings("resourceId", args))


@arm_function("subscriptionResourceId", 2)
def subscription_resource_id(ctx: Context, *args):
    return resource_ids.subscription_resource_id(ctx.scope.subscription_id,
                                                 _strings("subscriptionResourceId", args))


@arm_function("tenantResourceId", 2)
def tenant_resource_id(ctx: Context, *args):
    return resource_ids.tenant_resource_id(_strings("tenantResourceId", args))


@arm_function("extensionResourceId", 3)
def extension_resource_id(ctx: Context, base_id, resource_type, *names):
    return resource_ids.extension_resource_id(
        _str("extensionResourceId", base_id), _str("extensionResourceId", resource_type),
        _strings("extensionResourceId", names))


def _target(ctx: Context, function: str, target: Any, api_version: Any) -> tuple[str, str]:
    """(resource id, api version) of a reference()/list*() target: an id or a template resource name."""
    target = _str(function, target)
    declared = ctx.state.find_resource(target)
    if target.startswith("/"):
        rid = target
    elif declared is not None:
        rid = declared.id
    else:
        raise ExpressionError(f"The template reference '{target}' is not valid: could not find a "
                              "template resource with this name. Use resourceId(...) for resources "
                              "outside this template.")
    if api_version is None:
        if declared is None:
            raise ExpressionError(f"The template function '{function}' needs an api-version for "
                                  f"'{rid}', which this template does not deploy.")
        return rid, declared.api_version
    return rid, _str(function, api_version)


def _provider_call(call: Callable[[], Any], rid: str) -> Any:
    try:
        return call()
    except LookupError:
        raise ExpressionError(f"The Resource '{rid}' was not found.", code="ResourceNotFound") from None
    except ArmError as err:
        raise ExpressionError(err.message, code=err.code) from None


@arm_function("reference", 1, 3)
def reference(ctx: Context, target, api_version=None, full=None):
    ctx.require_runtime("reference")
    rid, api = _target(ctx, "reference", target, api_version)
    if full is not None and _str("reference", full).lower() != "full":
        raise ExpressionError(f"The third argument of 'reference' must be 'Full', not '{full}'.")
    resource = _provider_call(lambda: ctx.state.provider.get_resource(rid, api), rid)
    return resource if full is not None else resource.get("properties", {})


def list_action(ctx: Context, target, api_version, *, action: str):
    ctx.require_runtime(action)
    rid, api = _target(ctx, action, target, api_version)
    return _provider_call(lambda: ctx.state.provider.invoke_action(rid, action, api), rid)


# --- strings ------------------------------------------------------------------------------------

@arm_function("uniqueString", 1)
def unique_string_(ctx: Context, *values):
    return unique_string(*_strings("uniqueString", values))


@arm_function("guid", 1)
def guid(ctx: Context, *values):
    return arm_guid(*_strings("guid", values))


@arm_function("newGuid", 0, 0)
def new_guid(ctx: Context):
    _parameter_default_only(ctx, "newGuid")
    return str(uuid.uuid4())


# .NET date format tokens utcNow() understands, longest first.
DATE_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
DATE_STANDARD_FORMATS = {"u": "yyyy-MM-dd HH:mm:ssZ", "s": "yyyy-MM-ddTHH:mm:ss"}


@arm_function("utcNow", 0, 1)
def utc_now(ctx: Context, fmt="yyyyMMddTHHmmssZ"):
    _parameter_default_only(ctx, "utcNow")
    fmt = DATE_STANDARD_FORMATS.get(_str("utcNow", fmt), fmt)
    pieces = re.findall(r"yyyy|MM|dd|HH|mm|ss|[A-Za-z]|[^A-Za-z]+", fmt)
    unknown = [p for p in pieces if p.isalpha() and p not in DATE_TOKENS and p not in ("T", "Z")]
    if unknown:
        raise ExpressionError(f"The format '{fmt}' of 'utcNow' uses '{unknown[0]}', which localcloud "
                              "does not support; use yyyy, MM, dd, HH, mm, ss, T and Z.")
    strftime = "".join(DATE_TOKENS.get(p, p.replace("%", "%%")) for p in pieces)
    return datetime.datetime.now(datetime.UTC).strftime(strftime)


def _parameter_default_only(ctx: Context, function: str) -> None:
    if ctx.place != PARAMETERS:
        raise ExpressionError(f"The template function '{function}' is not expected at this location: "
                              "it can be used only in a parameter's defaultValue.")


@arm_function("substring", 2, 3)
def substring(ctx: Context, text, start, length=None):
    text, start = _str("substring", text), _int("substring", start)
    length = len(text) - start if length is None else _int("substring", length)
    if start < 0 or length < 0 or start + length > len(text):
        raise ExpressionError(
            "The index and length parameters must refer to a location within the string. The index "
            f"parameter: '{start}', the length parameter: '{length}', the length of the string "
            f"parameter: '{len(text)}'.")
    return text[start:start + length]


FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^{}]*))?\}|[{}]")


def _format_value(value: Any, spec: str | None) -> str:
    if not spec:
        return to_text(value)
    match = re.fullmatch(r"([DdXxNn])(\d*)", spec)
    if match is None or type_name(value) != "Integer":
        raise ExpressionError(f"The format specifier '{spec}' is not supported by localcloud for a "
                              f"value of type '{type_name(value)}' (supported for integers: D, N, X).")
    kind, digits = match.group(1).upper(), match.group(2)
    if kind == "N":
        return f"{value:,.{int(digits or 2)}f}"
    text = format(abs(value), "d" if kind == "D" else match.group(1))  # .NET keeps the case of x/X
    return ("-" if value < 0 else "") + text.zfill(int(digits or 0))


@arm_function("format", 1)
def format_(ctx: Context, template, *args):
    template = _str("format", template)

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        if match.group(1) is None:
            raise ExpressionError(f"The format string '{template}' has an unmatched '{token}'; "
                                  "write '{{' or '}}' for a literal brace.")
        index = int(match.group(1))
        if index >= len(args):
            raise ExpressionError(f"The format string '{template}' refers to argument {{{index}}} but "
                                  f"only {len(args)} argument(s) were given.")
        text = _format_value(args[index], match.group(3))
        width = int(match.group(2) or 0)
        return text.rjust(width) if width >= 0 else text.ljust(-width)

    return FORMAT_ITEM.sub(replace, template)


@arm_function("concat", 0)
def concat(ctx: Context, *args):
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    for a in args:
        expect("concat", a, "String", "Integer", "Boolean", "Null", "Float")
    return "".join(to_text(a) for a in args)


@arm_function("join", 2, 2)
def join(ctx: Context, items, delimiter):
    return _str("join", delimiter).join(to_text(i) for i in expect("join", items, "Array"))


@arm_function("toLower", 1, 1)
def to_lower(ctx: Context, text):
    return _str("toLower", text).lower()


@arm_function("toUpper", 1, 1)
def to_upper(ctx: Context, text):
    return _str("toUpper", text).upper()


@arm_function("trim", 1, 1)
def trim(ctx: Context, text):
    return _str("trim", text).strip()


@arm_function("replace", 3, 3)
def replace_(ctx: Context, text, old, new):
    text, old, new = _strings("replace", (text, old, new))
    if not old:
        raise ExpressionError("The template language function 'replace' needs a non-empty old value.")
    return text.replace(old, new)


@arm_function("split", 2, 2)
def split(ctx: Context, text, delimiters):
    text = _str("split", text)
    delimiters = [delimiters] if isinstance(delimiters, str) else _strings(
        "split", expect("split", delimiters, "Array", "String"))
    if not delimiters or not all(delimiters):
        raise ExpressionError("The template language function 'split' needs non-empty delimiters.")
    return re.split("|".join(re.escape(d) for d in delimiters), text)


@arm_function("startsWith", 2, 2)
def starts_with(ctx: Context, text, prefix):
    return _str("startsWith", text).lower().startswith(_str("startsWith", prefix).lower())


@arm_function("endsWith", 2, 2)
def ends_with(ctx: Context, text, suffix):
    return _str("endsWith", text).lower().endswith(_str("endsWith", suffix).lower())


@arm_function("indexOf", 2, 2)
def index_of(ctx: Context, text, part):
    return _str("indexOf", text).lower().find(_str("indexOf", part).lower())


@arm_function("lastIndexOf", 2, 2)
def last_index_of(ctx: Context, text, part):
    return _str("lastIndexOf", text).lower().rfind(_str("lastIndexOf", part).lower())


@arm_function("padLeft", 2, 3)
def pad_left(ctx: Context, value, width, pad=" "):
    pad = _str("padLeft", pad)
    if len(pad) != 1:
        raise ExpressionError("The padding character of 'padLeft' must be a single character.")
    return to_text(expect("padLeft", value, "String", "Integer")).rjust(_int("padLeft", width), pad)


@arm_function("string", 1, 1)
def string(ctx: Context, value):
    return to_text(value)


@arm_function("base64", 1, 1)
def base64_(ctx: Context, text):
    return base64.b64encode(_str("base64", text).encode("utf-8")).decode("ascii")


@arm_function("base64ToString", 1, 1)
def base64_to_string(ctx: Context, text):
    try:
        return base64.b64decode(_str("base64ToString", text), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ExpressionError(f"The value of 'base64ToString' is not valid base64 text: {err}") from None


@arm_function("uri", 2, 2)
def uri(ctx: Context, base, relative):
    return urllib.parse.urljoin(_str("uri", base), _str("uri", relative))


@arm_function("uriComponent", 1, 1)
def uri_component(ctx: Context, text):
    return urllib.parse.quote(_str("uriComponent", text), safe="")


@arm_function("uriComponentToString", 1, 1)
def uri_component_to_string(ctx: Context, text):
    return urllib.parse.unquote(_str("uriComponentToString", text))


# --- logic and comparison -----------------------------------------------------------------------

@arm_function("if", 3, 3, lazy=True)
def if_(ctx: Context, condition, when_true, when_false):
    return when_true() if expect("if", condition(), "Boolean") else when_false()


@arm_function("and", 2, lazy=True)
def and_(ctx: Context, *args):
    return all(expect("and", arg(), "Boolean") for arg in args)


@arm_function("or", 2, lazy=True)
def or_(ctx: Context, *args):
    return any(expect("or", arg(), "Boolean") for arg in args)


@arm_function("not", 1, 1)
def not_(ctx: Context, value):
    return not expect("not", value, "Boolean")


@arm_function("coalesce", 1, lazy=True)
def coalesce(ctx: Context, *args):
    return next((value for value in (arg() for arg in args) if value is not None), None)


@arm_function("equals", 2, 2)
def equals(ctx: Context, a, b):
    return equal(a, b)


def _comparison(name: str, compare: Callable[[Any, Any], bool]) -> None:
    def impl(ctx: Context, a, b):
        if type_name(a) != type_name(b) or type_name(a) not in ("Integer", "String", "Float"):
            raise ExpressionError(f"The template language function '{name}' expects two integers or "
                                  f"two strings, not '{type_name(a)}' and '{type_name(b)}'.")
        return compare(a, b)
    arm_function(name, 2, 2)(impl)


_comparison("less", lambda a, b: a < b)
_comparison("lessOrEquals", lambda a, b: a <= b)
_comparison("greater", lambda a, b: a > b)
_comparison("greaterOrEquals", lambda a, b: a >= b)


@arm_function("empty", 1, 1)
def empty(ctx: Context, value):
    return not expect("empty", value, "Null", "String", "Array", "Object")


@arm_function("null", 0, 0)
def null(ctx: Context):
    return None


@arm_function("true", 0, 0)
def true(ctx: Context):
    return True


@arm_function("false", 0, 0)
def false(ctx: Context):
    return False


# --- conversions --------------------------------------------------------------------------------

@arm_function("json", 1, 1)
def json_(ctx: Context, text):
    try:
        return json.loads(_str("json", text))
    except json.JSONDecodeError as err:
        raise ExpressionError(f"The template language function 'json' got text that is not JSON: "
                              f"{err.msg} at position {err.pos}.") from None


@arm_function("int", 1, 1)
def int_(ctx: Context, value):
    if type_name(value) == "String":
        try:
            return int(value.strip())
        except ValueError:
            raise ExpressionError(f"The template language function 'int' cannot convert '{value}' to "
                                  "an integer.") from None
    return int(expect("int", value, "Integer", "Float"))


@arm_function("bool", 1, 1)
def bool_(ctx: Context, value):
    if type_name(value) == "String" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if type_name(value) in ("Boolean", "Integer"):
        return bool(value)
    raise ExpressionError(f"The template language function 'bool' cannot convert a value of type "
                          f"'{type_name(value)}' to a boolean.")


@arm_function("array", 1, 1)
def array(ctx: Context, value):
    return value if isinstance(value, list) else [value]


# --- arrays and objects -------------------------------------------------------------------------

@arm_function("length", 1, 1)
def length(ctx: Context, value):
    return len(expect("length", value, "String", "Array", "Object"))


@arm_function("contains", 2, 2)
def contains(ctx: Context, container, item):
    expect("contains", container, "String", "Array", "Object")
    if isinstance(container, list):
        return any(equal(element, item) for element in container)
    if isinstance(container, dict):
        return has_key(container, _str("contains", item))
    return to_text(item) in container


@arm_function("createArray", 0)
def create_array(ctx: Context, *items):
    return list(items)


@arm_function("createObject", 0)
def create_object(ctx: Context, *pairs):
    if len(pairs) % 2:
        raise ExpressionError("The template language function 'createObject' needs an even number of "
                              "arguments: key, value, key, value, ...")
    return {_str("createObject", pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}


@arm_function("union", 1)
def union(ctx: Context, *values):
    if all(isinstance(v, dict) for v in values):
        return functools.reduce(merge_objects, values, {})
    merged: list = []
    for value in values:
        for item in expect("union", value, "Array"):
            if not any(equal(item, seen) for seen in merged):
                merged.append(item)
    return merged


@arm_function("intersection", 2)
def intersection(ctx: Context, first_value, *others):
    if isinstance(first_value, dict):
        for other in others:
            expect("intersection", other, "Object")
        return {k: v for k, v in first_value.items()
                if all(k in o and equal(o[k], v) for o in others)}
    return [item for i, item in enumerate(expect("intersection", first_value, "Array"))
            if all(any(equal(item, x) for x in expect("intersection", o, "Array")) for o in others)
            and not any(equal(item, earlier) for earlier in first_value[:i])]


@arm_function("items", 1, 1)
def items(ctx: Context, obj):
    entries = sorted(expect("items", obj, "Object").items(), key=lambda kv: (kv[0].lower(), kv[0]))
    return [{"key": k, "value": v} for k, v in entries]


@arm_function("objectKeys", 1, 1)
def object_keys(ctx: Context, obj):
    return list(expect("objectKeys", obj, "Object"))


@arm_function("tryGet", 2)
def try_get(ctx: Context, value, *keys):
    for key in keys:
        if isinstance(value, dict) and isinstance(key, str):
            try:
                value = lookup(value, key)[1]
            except KeyError:
                return None
        elif isinstance(value, list) and type_name(key) == "Integer" and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


@arm_function("first", 1, 1)
def first(ctx: Context, value):
    value = expect("first", value, "String", "Array")
    return value[0] if value else (None if isinstance(value, list) else "")


@arm_function("last", 1, 1)
def last(ctx: Context, value):
    value = expect("last", value, "String", "Array")
    return value[-1] if value else (None if isinstance(value, list) else "")


@arm_function("take", 2, 2)
def take(ctx: Context, value, count):
    return expect("take", value, "String", "Array")[:max(0, _int("take", count))]


@arm_function("skip", 2, 2)
def skip(ctx: Context, value, count):
    return expect("skip", value, "String", "Array")[max(0, _int("skip", count)):]


def _numbers(function: str, args: tuple) -> list[int]:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    if not values:
        raise ExpressionError(f"The template language function '{function}' needs at least one value.")
    return [expect(function, v, "Integer", "Float") for v in values]


@arm_function("min", 1)
def min_(ctx: Context, *args):
    return min(_numbers("min", args))


@arm_function("max", 1)
def max_(ctx: Context, *args):
    return max(_numbers("max", args))


@arm_function("range", 2, 2)
def range_(ctx: Context, start, count):
    start, count = _int("range", start), _int("range", count)
    if count < 0 or start + count > INT32_MAX:
        raise ExpressionError("The template language function 'range' needs a count of 0 or more and "
                              "a start index plus count of at most 2147483647.")
    return list(range(start, start + count))


# --- integer arithmetic (.NET semantics: division truncates toward zero) -------------------------

def _truncating_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _arithmetic(name: str, operation: Callable[[int, int], int], divides: bool = False) -> None:
    def impl(ctx: Context, a, b):
        a, b = _int(name, a), _int(name, b)
        if divides and b == 0:
            raise ExpressionError(f"The template language function '{name}' cannot divide by zero.")
        return operation(a, b)
    arm_function(name, 2, 2)(impl)


_arithmetic("add", lambda a, b: a + b)
_arithmetic("sub", lambda a, b: a - b)
_arithmetic("mul", lambda a, b: a * b)
_arithmetic("div", _truncating_div, divides=True)
_arithmetic("mod", lambda a, b: a - b * _truncating_div(a, b), divides=True)
