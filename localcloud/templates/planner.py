"""The deployment plan: the template's resources as concrete instances (copy loops expanded, nested
children flattened, names and ids evaluated) in an order that honours every dependency."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from typing import Any

from localcloud.arm.exceptions import ArmError

from .context import EvalContext, TemplateState, copy_count, evaluate_tree
from .errors import ExpressionError
from .expressions import calls, evaluate, is_expression, parse
from .places import RESOURCE, VARIABLES
from .resource_ids import template_resource_id
from .values import strings_in, type_name

# Keys of a template resource that steer the deployment and are not sent to the provider.
TEMPLATE_ONLY_KEYS = frozenset(
    {"type", "apiVersion", "name", "dependsOn", "condition", "copy", "resources", "comments", "scope"})
NESTED_DEPLOYMENT_TYPE = "microsoft.resources/deployments"


@dataclass(eq=False)
class ResourceInstance:
    path: str  # where the definition sits, e.g. "resources[2]" or "resources[0].resources[1]"
    definition: dict
    context: EvalContext  # with this instance's copy indexes
    type: str
    name: str
    id: str
    api_version: str
    deployed: bool  # its condition
    copy_name: str | None = None
    copy_index: int | None = None
    depends_on: set[str] = field(default_factory=set)  # lower-case ids of deployed resources

    def body(self) -> dict:
        """The PUT body: every non-template key, evaluated now so reference() sees earlier resources."""
        payload = {k: v for k, v in self.definition.items() if k not in TEMPLATE_ONLY_KEYS}
        return evaluate_tree(payload, self.context.at(RESOURCE), self.path)


def invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidTemplate", f"Deployment template validation failed: '{message}'")


def plan(state: TemplateState) -> list[ResourceInstance]:
    """All resources (also those whose condition is false); sets ``state.resources``."""
    resources = state.template.get("resources") or []
    instances: list[ResourceInstance] = []
    for i, definition in enumerate(resources):
        _expand(state, definition, f"resources[{i}]", state.context(VARIABLES), None, instances)
    state.resources = instances
    deployed = [r for r in instances if r.deployed]
    seen: dict[str, ResourceInstance] = {}
    for resource in deployed:
        if resource.id.lower() in seen:
            raise invalid(f"The resource '{resource.id}' is defined multiple times in a template "
                          f"(at '{seen[resource.id.lower()].path}' and '{resource.path}').")
        seen[resource.id.lower()] = resource
    # A dependency on a copy loop of zero instances is valid and waits for nothing.
    loop_names = {d["copy"]["name"].lower() for d in resources
                  if isinstance(d.get("copy"), dict) and isinstance(d["copy"].get("name"), str)}
    for resource in deployed:
        _link(state, resource, instances, seen, loop_names)
    _link_serial_loops(deployed)
    return instances


def deployment_order(instances: list[ResourceInstance]) -> list[ResourceInstance]:
    """Deployed instances, dependencies first; among independent ones, template order."""
    deployed = [r for r in instances if r.deployed]
    by_id = {r.id.lower(): r for r in deployed}
    position = {r.id.lower(): n for n, r in enumerate(deployed)}
    sorter = graphlib.TopologicalSorter({key: r.depends_on for key, r in by_id.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle = " -> ".join(by_id[key].id for key in err.args[1])
        raise invalid(f"Circular dependency detected on resource: '{cycle}'.") from None
    ordered = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        ordered.extend(by_id[key] for key in ready)
        sorter.done(*ready)
    return ordered


def _expand(state: TemplateState, definition: Any, path: str, ctx: EvalContext,
            parent: ResourceInstance | None, out: list[ResourceInstance]) -> None:
    if not isinstance(definition, dict) or not all(
            isinstance(definition.get(key), str) for key in ("type", "apiVersion", "name")):
        raise invalid(f"The template resource at '{path}' must be an object with string 'type', "
                      "'apiVersion' and 'name'.")
    if definition["type"].lower() == NESTED_DEPLOYMENT_TYPE:
        raise invalid(f"The resource at '{path}' is a nested deployment (a Bicep module); localcloud's "
                      "template engine does not support nested deployments. Inline the module's resources.")
    loop = definition.get("copy")
    if loop is None:
        instances = [(ctx, None, None)]
    else:
        if parent is not None:
            raise invalid(f"The nested resource at '{path}' cannot have a copy loop; declare it at the "
                          "top level with its full type and name instead.")
        if not isinstance(loop, dict) or not isinstance(loop.get("name"), str):
            raise invalid(f"The copy loop at '{path}.copy' must be an object with a 'name'.")
        count = copy_count(loop, ctx, f"{path}.copy")
        instances = [(ctx.with_copy(None, i).with_copy(loop["name"], i), loop["name"], i)
                     for i in range(count)]
    children = definition.get("resources") or []
    for instance_ctx, copy_name, index in instances:
        resource = _instance(state, definition, path, instance_ctx, parent, copy_name, index)
        out.append(resource)
        for j, child in enumerate(children):
            _expand(state, child, f"{path}.resources[{j}]", instance_ctx, resource, out)


def _instance(state: TemplateState, definition: dict, path: str, ctx: EvalContext,
              parent: ResourceInstance | None, copy_name: str | None, index: int | None) -> ResourceInstance:
    def value(key: str, default: Any, expected: str, optional: bool = False) -> Any:
        result = evaluate_tree(definition.get(key, default), ctx, f"{path}.{key}")
        if not (optional and result is None) and type_name(result) != expected:
            raise invalid(f"The '{key}' of the template resource at '{path}' must be a "
                          f"{expected}, not a {type_name(result)}.")
        return result

    resource_type, name = definition["type"], value("name", None, "String")
    if parent is not None and "/" not in resource_type:
        resource_type, name = f"{parent.type}/{resource_type}", f"{parent.name}/{name}"
    try:
        rid = template_resource_id(state.scope.subscription_id, state.scope.resource_group,
                                   resource_type, name, value("scope", None, "String", optional=True))
    except ExpressionError as err:
        raise invalid(f"The template resource '{name}' at '{path}' is not valid: {err.message}") from None
    return ResourceInstance(path, definition, ctx, resource_type, name, rid,
                            value("apiVersion", None, "String"), value("condition", True, "Boolean"),
                            copy_name, index)


def _matches(resource: ResourceInstance, reference: str) -> bool:
    """dependsOn entries name a resource by id, 'type/name', name, or copy loop name."""
    wanted = reference.lower()
    rid = resource.id.lower()
    return (wanted in (rid, resource.name.lower(), f"{resource.type}/{resource.name}".lower(),
                       (resource.copy_name or "").lower())
            or rid.endswith("/providers/" + wanted))


def _link(state: TemplateState, resource: ResourceInstance, instances: list[ResourceInstance],
          deployed: dict[str, ResourceInstance], loop_names: set[str]) -> None:
    own = resource.id.lower()
    for k, entry in enumerate(resource.definition.get("dependsOn") or []):
        path = f"{resource.path}.dependsOn[{k}]"
        reference = evaluate_tree(entry, resource.context, path)
        if not isinstance(reference, str):
            raise invalid(f"The dependsOn entry at '{path}' must be a string, not {type_name(reference)}.")
        targets = [r for r in instances if _matches(r, reference)]
        if not targets and reference.lower() not in loop_names:
            raise invalid(f"The resource '{reference}' at '{path}' is not defined in the template.")
        # Dependencies on resources whose condition is false are dropped, as in ARM.
        resource.depends_on |= {r.id.lower() for r in targets if r.deployed} - {own}
    parent_id = own.rsplit("/", 2)[0]
    if parent_id in deployed:
        resource.depends_on.add(parent_id)
    resource.depends_on |= _implicit_references(state, resource, deployed)


def _implicit_references(state: TemplateState, resource: ResourceInstance,
                         deployed: dict[str, ResourceInstance]) -> set[str]:
    """reference()/list*() of a resource of this template make this one wait for it (as in ARM)."""
    found: set[str] = set()
    payload = {k: v for k, v in resource.definition.items() if k not in TEMPLATE_ONLY_KEYS}
    for text in strings_in(payload):
        if not is_expression(text):
            continue
        for call in calls(parse(text[1:-1])):
            name = call.name.lower()
            if not call.args or not (name == "reference" or name.startswith("list")):
                continue
            try:
                target = evaluate(call.args[0], resource.context)
            except ExpressionError:
                # The target depends on runtime values (or a property loop index); the real
                # evaluation before the PUT reports any genuine error with its location.
                continue
            declared = state.find_resource(target) if isinstance(target, str) else None
            if declared is not None and declared.id.lower() in deployed:
                found.add(declared.id.lower())
    return found


def _link_serial_loops(deployed: list[ResourceInstance]) -> None:
    """A serial copy loop deploys in batches: each batch waits for the one before it."""
    for resource in deployed:
        loop = resource.definition.get("copy")
        if not isinstance(loop, dict) or str(loop.get("mode", "parallel")).lower() != "serial":
            continue
        batch = loop.get("batchSize", 1)
        if type_name(batch) != "Integer" or batch < 1:
            raise invalid(f"The batchSize at '{resource.path}.copy.batchSize' must be a positive integer.")
        previous = resource.copy_index // batch - 1
        resource.depends_on |= {r.id.lower() for r in deployed if r.path == resource.path
                                and r.copy_index is not None and r.copy_index // batch == previous}

