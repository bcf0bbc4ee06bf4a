"""What an expression sees while it is evaluated: the template's parameters and variables, the
deployment scope, the current copy indexes, and where in the template it sits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from localcloud.arm.exceptions import ArmError

from . import parameters as params
from .errors import ExpressionError
from .expressions import Call, evaluate, is_expression, parse, unescape
from .functions import resolve_function
from .interfaces import DeploymentScope, PlannedResource, ResourceProvider
from .places import PARAMETERS, RUNTIME_PLACES, VARIABLES
from .values import lookup, strings_in, type_name

MAX_COPY_COUNT = 800  # ARM's limit for one copy loop


class TemplateState:
    """Template-wide state shared by every expression of one deployment."""

    def __init__(self, template: dict, given: dict[str, Any], scope: DeploymentScope,
                 provider: ResourceProvider | None):
        self.template = template
        self.scope = scope
        self.provider = provider
        self.given = given
        self.declared_parameters: dict = template.get("parameters") or {}
        self.declared_variables: dict = {k: v for k, v in (template.get("variables") or {}).items()
                                         if k != "copy"}
        self.variable_loops: dict = {loop.get("name"): (i, loop) for i, loop in
                                     enumerate((template.get("variables") or {}).get("copy", []))}
        self.resources: list[PlannedResource] = []
        self._cache: dict[tuple[str, str], Any] = {}
        self._resolving: list[tuple[str, str]] = []

    def context(self, place: str) -> EvalContext:
        return EvalContext(self, place)

    def parameter(self, name: str) -> Any:
        try:
            name, declaration = lookup(self.declared_parameters, name)
        except KeyError:
            raise ExpressionError(f"The template parameter '{name}' is not found.") from None

        def compute() -> Any:
            if name in self.given:
                value = self.given[name]
            elif "defaultValue" in declaration:
                value = evaluate_tree(declaration["defaultValue"], self.context(PARAMETERS),
                                      f"parameters.{name}.defaultValue")
            else:
                raise params.missing(name)
            params.check(name, declaration, value)
            return value

        return self._resolve("parameter", name, compute)

    def variable(self, name: str) -> Any:
        try:
            name, definition = lookup(self.declared_variables, name)
        except KeyError:
            try:
                name, (index, loop) = lookup(self.variable_loops, name)
            except KeyError:
                raise ExpressionError(f"The template variable '{name}' is not found.") from None
            return self._resolve("variable", name, lambda: expand_copy(
                loop, name, self.context(VARIABLES), f"variables.copy[{index}]"))
        return self._resolve("variable", name, lambda: evaluate_tree(
            definition, self.context(VARIABLES), f"variables.{name}"))

    def _resolve(self, kind: str, name: str, compute: Callable[[], Any]) -> Any:
        key = (kind, name)
        if key in self._cache:
            return self._cache[key]
        if key in self._resolving:
            chain = self._resolving[self._resolving.index(key):] + [key]
            raise ArmError(400, "InvalidTemplate", "Circular reference detected: " + " -> ".join(
                f"{k} '{n}'" for k, n in chain) + ".")
        self._resolving.append(key)
        try:
            value = self._cache[key] = compute()
        finally:
            self._resolving.pop()
        return value

    def secrets(self) -> list[str]:
        """Every string inside the secure parameters' values, for redaction."""
        found: list[str] = []
        for name, declaration in self.declared_parameters.items():
            if params.is_secure(declaration) and ("parameter", name) in self._cache:
                found.extend(strings_in(self._cache[("parameter", name)]))
        return found

    def find_resource(self, name_or_id: str) -> PlannedResource | None:
        """A resource of this template by its full id or by its name (as reference() takes)."""
        wanted = name_or_id.lower()
        for resource in self.resources:
            if wanted in (resource.id.lower(), resource.name.lower()):
                return resource
        return None


@dataclasses.dataclass(frozen=True)
class EvalContext:
    state: TemplateState
    place: str
    copy_indexes: tuple[tuple[str | None, int], ...] = ()

    @property
    def scope(self) -> DeploymentScope:
        return self.state.scope

    def with_copy(self, loop: str | None, index: int) -> EvalContext:
        return dataclasses.replace(self, copy_indexes=self.copy_indexes + ((loop, index),))

    def at(self, place: str) -> EvalContext:
        return dataclasses.replace(self, place=place)

    def copy_index(self, loop: str | None) -> int:
        for name, index in reversed(self.copy_indexes):
            if name == loop or (loop is not None and name is not None and name.lower() == loop.lower()):
                return index
        where = f"copy loop '{loop}'" if loop else "a resource copy loop"
        raise ExpressionError(f"The template function 'copyIndex' is not expected at this location: "
                              f"it is not inside {where}.")

    def require_runtime(self, function: str) -> None:
        if self.place not in RUNTIME_PLACES:
            raise ExpressionError(
                f"The template function '{function}' is not expected at this location. It can be "
                "used only in a resource's properties and in outputs.")

    def call(self, node: Call) -> Any:
        function = resolve_function(node.name, len(node.args))
        if function.lazy:
            return function.impl(self, *[_thunk(arg, self) for arg in node.args])
        return function.impl(self, *[evaluate(arg, self) for arg in node.args])


def _thunk(node, ctx: EvalContext) -> Callable[[], Any]:
    return lambda: evaluate(node, ctx)


def evaluate_string(text: str, ctx: EvalContext, path: str) -> Any:
    if not is_expression(text):
        return unescape(text)
    try:
        return evaluate(parse(text[1:-1]), ctx)
    except ExpressionError as err:
        raise ArmError(400, err.code, f"The template language expression '{text}' at '{path}' is not "
                                      f"valid: {err.message}") from None


def evaluate_tree(value: Any, ctx: EvalContext, path: str) -> Any:
    """Evaluate every expression in a JSON value; ``copy`` arrays become property loops."""
    if isinstance(value, str):
        return evaluate_string(value, ctx, path)
    if isinstance(value, list):
        return [evaluate_tree(item, ctx, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "copy" and isinstance(item, list):
                for i, loop in enumerate(item):
                    loop_path = f"{path}.copy[{i}]"
                    name = loop.get("name") if isinstance(loop, dict) else None
                    if not isinstance(name, str):
                        raise ArmError(400, "InvalidTemplate", f"The property loop at '{loop_path}' "
                                                               "needs a 'name'.")
                    result[name] = expand_copy(loop, name, ctx, loop_path)
            else:
                result[key] = evaluate_tree(item, ctx, f"{path}.{key}")
        return result
    return value


def copy_count(loop: dict, ctx: EvalContext, path: str) -> int:
    count = evaluate_tree(loop.get("count"), ctx, f"{path}.count")
    if type_name(count) != "Integer" or not 0 <= count <= MAX_COPY_COUNT:
        raise ArmError(400, "InvalidTemplate", f"The copy count at '{path}.count' must be an integer "
                                               f"from 0 to {MAX_COPY_COUNT}, not {count!r}.")
    return count


def expand_copy(loop: dict, name: str | None, ctx: EvalContext, path: str) -> list:
    """A property, variable or output loop: ``input`` evaluated ``count`` times."""
    if not isinstance(loop, dict) or "input" not in loop:
        raise ArmError(400, "InvalidTemplate", f"The copy loop at '{path}' needs 'count' and 'input'.")
    return [evaluate_tree(loop["input"], ctx.with_copy(name, i), f"{path}.input")
            for i in range(copy_count(loop, ctx, path))]

