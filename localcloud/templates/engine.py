"""Validate and run ARM template deployments (incremental mode) against a ResourceProvider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.arm.exceptions import ArmError

from . import parameters as params
from .context import TemplateState, evaluate_tree, expand_copy
from .errors import ExpressionError
from .expressions import calls, is_expression, parse
from .functions import resolve_function
from .interfaces import DeploymentScope, ResourceProvider
from .places import OUTPUTS
from .planner import ResourceInstance, deployment_order, invalid, plan
from .values import type_name

__all__ = ["DeploymentScope", "ResourceProvider", "run_deployment", "validate_template"]

TOP_LEVEL_KEYS = ("$schema", "contentVersion", "apiProfile", "parameters", "variables", "functions",
                  "resources", "outputs", "metadata", "languageVersion", "definitions")
DEPLOYMENT_FAILED = ("At least one resource deployment operation failed. Please list deployment "
                     "operations for details. Please see https://aka.ms/arm-deployment-operations "
                     "for usage details.")



OnResource = Callable[[str, str], None]


def validate_template(template: dict, parameters: dict, scope: DeploymentScope) -> list[dict]:
    """ARM's preflight: template shape, expressions, parameter values, names, ids and dependencies.

    Returns the resources the deployment would touch, as ARM's `validatedResources` lists them.
    """
    state = _state(template, parameters, scope, None)
    try:
        resources = _prepare(state)
    except ArmError as err:
        raise err.redacted(state.secrets()) from None
    return [{"id": r.id, "type": r.type, "name": r.name, "apiVersion": r.api_version}
            for r in resources if r.deployed]


def run_deployment(template: dict, parameters: dict, scope: DeploymentScope,
                   provider: ResourceProvider, on_resource: OnResource | None = None) -> dict:
    """Deploy the template's resources in dependency order and return its outputs in ARM shape.

    Each resource's body is evaluated just before its PUT. ``on_resource(resource_id, status)`` is
    called once per deployed resource with "Succeeded" or "Failed". The first failure stops the
    deployment with an ArmError("DeploymentFailed") whose details name the resource and cause.
    """
    state = _state(template, parameters, scope, provider)
    try:
        for resource in _prepare(state):
            _deploy(resource, provider, on_resource or (lambda resource_id, status: None))
        return _outputs(state)
    except ArmError as err:
        raise err.redacted(state.secrets()) from None


def _state(template: Any, parameters: dict, scope: DeploymentScope,
           provider: ResourceProvider | None) -> TemplateState:
    _check_shape(template)
    declared = template.get("parameters") or {}
    return TemplateState(template, params.bind(declared, parameters), scope, provider)


def _check_shape(template: Any) -> None:
    if not isinstance(template, dict):
        raise invalid("The template must be a JSON object.")
    version = str(template.get("languageVersion", "1.0"))
    if not version.startswith("1.") or isinstance(template.get("resources"), dict):
        raise invalid(f"Templates with languageVersion '{version}' (symbolic resource names) are not "
                      "supported by localcloud's template engine; use a languageVersion 1.0 template "
                      "(Bicep emits one unless a feature needs symbolic names).")
    unknown = [key for key in template if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise invalid(f"The template property '{unknown[0]}' is not allowed; allowed are "
                      f"'{', '.join(TOP_LEVEL_KEYS)}'.")
    if template.get("functions"):
        raise invalid("User-defined template functions ('functions') are not supported by localcloud's "
                      "template engine.")
    for key, kind, kind_name in (("parameters", dict, "object"), ("variables", dict, "object"),
                                 ("resources", list, "array"), ("outputs", dict, "object")):
        if not isinstance(template.get(key, kind()), kind):
            raise invalid(f"The template property '{key}' must be a JSON {kind_name}.")
    loops = (template.get("variables") or {}).get("copy", [])
    if not isinstance(loops, list) or not all(
            isinstance(loop, dict) and isinstance(loop.get("name"), str) for loop in loops):
        raise invalid("The variable loops at 'variables.copy' must be an array of objects with 'name', "
                      "'count' and 'input'.")
    for name, declaration in (template.get("parameters") or {}).items():
        params.check_declaration(name, declaration)
    for name, output in (template.get("outputs") or {}).items():
        if not isinstance(output, dict) or params.declared_type(output) not in params.PARAMETER_TYPES \
                or not ("value" in output or "copy" in output):
            raise invalid(f"The template output '{name}' must have a 'type' (one of "
                          f"'{', '.join(params.PARAMETER_TYPES)}') and a 'value' or 'copy'.")
    _check_expressions(template)


def _check_expressions(template: dict) -> None:
    """Parse every expression and check its functions exist, before anything runs (as ARM does)."""
    roots = {f"parameters.{name}.defaultValue": decl.get("defaultValue")
             for name, decl in (template.get("parameters") or {}).items()}
    roots.update({key: template.get(key) for key in ("variables", "resources", "outputs")})
    for root_path, root in roots.items():
        for path, text in _expression_strings(root, root_path):
            try:
                for call in calls(parse(text[1:-1])):
                    resolve_function(call.name, len(call.args))
            except ExpressionError as err:
                raise ArmError(400, err.code, f"The template language expression '{text}' at '{path}' "
                                              f"is not valid: {err.message}") from None


def _expression_strings(value: Any, path: str):
    if isinstance(value, str) and is_expression(value):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _expression_strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expression_strings(item, f"{path}.{key}")


def _prepare(state: TemplateState) -> list[ResourceInstance]:
    """Evaluate all parameters and variables (so their errors surface up front), then plan.

    Returns the resources to deploy, in deployment order.
    """
    for name in state.declared_parameters:
        state.parameter(name)
    for name in [*state.declared_variables, *state.variable_loops]:
        state.variable(name)
    return deployment_order(plan(state))


def _deploy(resource: ResourceInstance, provider: ResourceProvider, on_resource: OnResource) -> None:
    try:
        provider.put_resource(resource.id, resource.api_version, resource.body())
    except ArmError as err:
        on_resource(resource.id, "Failed")
        raise _deployment_failed(resource.id, err.code, err.message) from None
    on_resource(resource.id, "Succeeded")


def _deployment_failed(resource_id: str, code: str, message: str) -> ArmError:
    return ArmError(400, "DeploymentFailed", DEPLOYMENT_FAILED,
                         details=[{"code": code, "message": message, "target": resource_id}])


def _outputs(state: TemplateState) -> dict:
    results = {}
    for name, output in (state.template.get("outputs") or {}).items():
        ctx, path = state.context(OUTPUTS), f"outputs.{name}"
        expected, wire = params.PARAMETER_TYPES[params.declared_type(output)]
        try:
            if not evaluate_tree(output.get("condition", True), ctx, f"{path}.condition"):
                continue
            if "copy" in output:
                value = expand_copy(output["copy"], None, ctx, f"{path}.copy")
            else:
                value = evaluate_tree(output["value"], ctx, f"{path}.value")
            if value is not None and type_name(value) != expected:
                raise ArmError(400, "InvalidTemplate", f"The template output '{name}' is not valid: "
                                    f"expected a value of type '{wire}' but got '{type_name(value)}'.")
        except ArmError as err:
            raise ArmError(400, "DeploymentOutputEvaluationFailed",
                                f"Unable to evaluate template outputs: '{name}'. Please see error "
                                "details and deployment operations.",
                                details=[{"code": err.code, "message": err.message, "target": name}],
                                ) from None
        # ARM never returns the value of a secure output.
        results[name] = {"type": wire} if wire.startswith("Secure") else {"type": wire, "value": value}
    return results
