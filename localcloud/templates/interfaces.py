"""The types the template modules share, so none of them imports another for its annotations.

``context`` (evaluation), ``functions``, ``expressions``, ``planner`` and ``engine`` all import this
module and nothing imports them back for a type: the import graph has no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ResourceProvider(Protocol):
    """What the engine needs from ARM. To fail, raise an ArmError (localcloud.arm.exceptions); it becomes
    a DeploymentFailed detail. ``get_resource`` raises LookupError when the resource does not exist."""

    def put_resource(self, resource_id: str, api_version: str, body: dict) -> dict: ...

    def get_resource(self, resource_id: str, api_version: str | None) -> dict: ...

    def invoke_action(self, resource_id: str, action: str, api_version: str) -> dict: ...


@dataclass
class DeploymentScope:
    subscription_id: str
    tenant_id: str
    resource_group: str
    location: str  # the resource group's location
    deployment_name: str
    environment: dict | None = None  # overrides merged into environment() (e.g. resourceManager)
    resource_group_tags: dict = field(default_factory=dict)
    subscription_display_name: str = "localcloud"


class PlannedResource(Protocol):
    """A resource of the template being deployed, as reference() and dependsOn see it."""

    id: str
    name: str
    api_version: str


class Template(Protocol):
    """Template-wide state of one deployment (context.TemplateState)."""

    template: dict
    scope: DeploymentScope
    provider: ResourceProvider | None

    def parameter(self, name: str) -> Any: ...

    def variable(self, name: str) -> Any: ...

    def find_resource(self, name_or_id: str) -> PlannedResource | None: ...


class Context(Protocol):
    """Where an expression is evaluated (context.EvalContext): what template functions may read."""

    state: Template
    place: str

    @property
    def scope(self) -> DeploymentScope: ...

    def copy_index(self, loop: str | None) -> int: ...

    def require_runtime(self, function: str) -> None: ...

    def call(self, node: Any) -> Any: ...
