"""ARM resource ids from a type and names, as resourceId() and friends build them."""

from __future__ import annotations

from .errors import ExpressionError


def _segments(function: str, resource_type: str, names: list[str]) -> str:
    """``providers/NS/t1/n1/t2/n2`` for type ``NS/t1/t2`` and names ``n1, n2``."""
    namespace, *types = resource_type.split("/")
    parts = [p for name in names for p in name.split("/")]
    if not namespace or not types or len(parts) != len(types):
        raise ExpressionError(
            f"Unable to evaluate template language function '{function}': the type '{resource_type}' "
            f"requires {len(types)} resource name segment(s) but {len(parts)} were given "
            f"({'/'.join(parts) or 'none'}).")
    return "/".join(["providers", namespace] + [x for pair in zip(types, parts, strict=True) for x in pair])


def resource_group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def split_leading(function: str, args: list[str], most: int) -> tuple[list[str], str, list[str]]:
    """Split ``[scope args..., type, names...]``: the type is the first argument with a '/'."""
    for index, arg in enumerate(args):
        if "/" in arg:
            if index > most:
                break
            return args[:index], arg, args[index + 1:]
    raise ExpressionError(f"Unable to evaluate template language function '{function}': expected at "
                          f"most {most} scope argument(s) followed by a resource type like "
                          "'Microsoft.Storage/storageAccounts' and its names.")


def resource_id(subscription_id: str, resource_group: str, args: list[str]) -> str:
    """resourceId([subscriptionId], [resourceGroupName], type, names...)."""
    leading, resource_type, names = split_leading("resourceId", args, 2)
    if len(leading) == 2:
        subscription_id, resource_group = leading
    elif len(leading) == 1:
        resource_group = leading[0]
    return f"{resource_group_id(subscription_id, resource_group)}/" + _segments(
        "resourceId", resource_type, names)


def subscription_resource_id(subscription_id: str, args: list[str]) -> str:
    leading, resource_type, names = split_leading("subscriptionResourceId", args, 1)
    if leading:
        subscription_id = leading[0]
    return f"/subscriptions/{subscription_id}/" + _segments("subscriptionResourceId", resource_type, names)


def tenant_resource_id(args: list[str]) -> str:
    _, resource_type, names = split_leading("tenantResourceId", args, 0)
    return "/" + _segments("tenantResourceId", resource_type, names)


def extension_resource_id(base_id: str, resource_type: str, names: list[str]) -> str:
    return base_id.rstrip("/") + "/" + _segments("extensionResourceId", resource_type, names)


def template_resource_id(subscription_id: str, resource_group: str, resource_type: str, name: str,
                         scope: str | None = None) -> str:
    """The id of a template resource; ``scope`` (extension resources) is an id or a 'type/name'."""
    if scope:
        if not scope.startswith("/"):
            # Relative form 'NS/type/name[/type/name...]' within the deployment's resource group.
            scope = f"{resource_group_id(subscription_id, resource_group)}/providers/{scope}"
        return extension_resource_id(scope, resource_type, [name])
    return resource_id(subscription_id, resource_group, [resource_type, name])
