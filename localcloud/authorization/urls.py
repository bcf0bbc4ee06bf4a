"""Microsoft.Authorization's routes, below any scope (a subscription, a resource group, a resource):
{scope}/providers/Microsoft.Authorization/<route>. ARM's router splits the scope off first."""

from __future__ import annotations

from localcloud.routing import Route

PREFIX = "/{scope}/providers/Microsoft.Authorization"

routes = [
    Route(("GET",), "/roleAssignments", "list_role_assignments",
          "role assignments at, above and below a scope (`az role assignment list`)"),
    Route(("GET", "PUT", "DELETE"), "/roleAssignments/{name}", "role_assignment",
          "a role assignment (`az role assignment create/delete`)"),
    Route(("GET",), "/roleDefinitions", "list_role_definitions", "built-in roles, `$filter=roleName eq '...'`"),
    Route(("GET",), "/roleDefinitions/{name}", "role_definition", "a built-in role by id"),
]


def split_scope(segments: list[str]) -> tuple[str, list[str]] | None:
    """(scope, the segments after .../providers/Microsoft.Authorization) or None for other paths."""
    lower = [s.lower() for s in segments]
    for i in range(len(lower) - 1, -1, -1):
        if lower[i] == "providers" and lower[i + 1 : i + 2] == ["microsoft.authorization"]:
            return "/" + "/".join(segments[:i]), segments[i + 2 :]
    return None
