"""Container Apps' routes: its ARM resource types (served by ARM's generic routes) and the log stream."""

from __future__ import annotations

from localcloud.containerapps.environments import EnvironmentStorages, ManagedEnvironments
from localcloud.containerapps.models import ContainerApps, Replicas, Revisions
from localcloud.routing import Route

resource_kinds = [ManagedEnvironments, EnvironmentStorages, ContainerApps, Revisions, Replicas]

# On the local cloud's port, as the app's eventStreamEndpoint gives it (ARM's prefix, not ARM's auth).
routes = [
    Route(
        ("GET",),
        "/subscriptions/{subscription}/resourceGroups/{group}/containerApps/{app}/revisions/{revision}"
        "/replicas/{replica}/containers/{container}/logstream",
        "console",
        "console log stream of a replica (`az containerapp logs show`)",
    ),
    Route(
        ("GET",),
        "/subscriptions/{subscription}/resourceGroups/{group}/containerApps/{app}/eventstream",
        "system",
        "system log stream of an app (`az containerapp logs show --type system`)",
    ),
]
