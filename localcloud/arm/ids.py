"""Parsing ARM resource ids: /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}/..."""

from __future__ import annotations

from dataclasses import dataclass

from localcloud.arm.exceptions import invalid_request


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    def __str__(self) -> str:
        pairs = "/".join(f"{t}/{n}" for t, n in zip(self.types, self.names, strict=True))
        return f"{self.group_id}/providers/{self.namespace}/{pairs}"

    @property
    def key(self) -> str:
        """Ids are case-insensitive in ARM."""
        return str(self).lower()

    @property
    def parent(self) -> ResourceId | None:
        if len(self.types) == 1:
            return None
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.types[:-1], self.names[:-1])

    def child(self, child_type: str, name: str) -> ResourceId:
        return ResourceId(
            self.subscription,
            self.resource_group,
            self.namespace,
            (*self.types, child_type),
            (*self.names, name),
        )


@dataclass(frozen=True)
class ParsedPath:
    """A path under a resource group's provider: a resource, a collection (odd tail) or an action."""

    resource: ResourceId | None  # the deepest full (type, name) pair
    tail: str | None  # one segment after it: a collection type or an action name


def parse_provider_path(subscription: str, resource_group: str, rest: list[str]) -> ParsedPath:
    """rest = segments after 'providers/': [ns, type, name, type, name, ..., (tail)]."""
    if not rest or not rest[0]:
        raise invalid_request("The resource id has no provider namespace after 'providers/'.")
    namespace, pairs = rest[0], rest[1:]
    tail = pairs.pop() if len(pairs) % 2 else None
    if not pairs:
        return ParsedPath(None, tail)
    types, names = tuple(pairs[0::2]), tuple(pairs[1::2])
    if not all(names):
        raise invalid_request("The resource id has an empty name segment.")
    return ParsedPath(ResourceId(subscription, resource_group, namespace, types, names), tail)


def parse_resource_id(resource_id: str) -> ResourceId:
    parts = resource_id.strip("/").split("/")
    if (
        len(parts) < 7
        or parts[0].lower() != "subscriptions"
        or parts[2].lower() != "resourcegroups"
        or parts[4].lower() != "providers"
    ):
        raise invalid_request(
            f"'{resource_id}' is not a valid resource id: expected "
            "/subscriptions/{id}/resourceGroups/{name}/providers/{namespace}/{type}/{name}."
        )
    parsed = parse_provider_path(parts[1], parts[3], parts[5:])
    if parsed.resource is None or parsed.tail is not None:
        raise invalid_request(f"'{resource_id}' is not a valid resource id: types and names must alternate.")
    return parsed.resource
