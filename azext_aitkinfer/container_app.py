"""The container app as ARM sees it: restart its revision, list replicas, read its log stream."""
from azure.cli.core.azclierror import ResourceNotFoundError

from . import _client_factory as clients

# The Microsoft.App API version of our template: the appcontainers SDK az ships (2022-10-01)
# has no revision runningState, so revisions are read through the generic resources API.
APP_API_VERSION = "2025-01-01"


class App:
    """One container app in one subscription and resource group."""

    def __init__(self, cli_ctx, subscription, group, name):
        self.subscription, self.group, self.name = subscription, group, name
        self.client = clients.containerapps_client(cli_ctx, subscription)
        self.resources = clients.resources_client(cli_ctx, subscription)

    def get(self):
        return self.client.container_apps.get(self.group, self.name)

    def latest_revision(self, resource=None):
        """The app's latest revision name; `resource` is an app already read, to save a GET."""
        revision = (resource or self.get()).latest_revision_name
        if not revision:
            raise ResourceNotFoundError(f"Container app '{self.name}' has no revision yet. Fix: run "
                                        "'az aitk-infer provision' again")
        return revision

    def revision_state(self, revision):
        revision_id = (f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/"
                       f"Microsoft.App/containerApps/{self.name}/revisions/{revision}")
        props = self.resources.get_by_id(revision_id, APP_API_VERSION).properties or {}
        return {key: props.get(key)
                for key in ("runningState", "healthState", "provisioningState", "replicas")}

    def replicas(self, revision):
        listing = self.client.container_apps_revision_replicas.list_replicas(
            self.group, self.name, revision)
        return [r.name for r in (listing.value or [])]

    def replica_starts(self, revision):
        """{replica name: (created time, container restarts)}: a restart changes one or the other,
        whether or not the replica keeps its name."""
        listing = self.client.container_apps_revision_replicas.list_replicas(
            self.group, self.name, revision)
        return {r.name: (r.created_time, sum(c.restart_count or 0 for c in r.containers or []))
                for r in (listing.value or [])}

    def restart(self, revision):
        self.client.container_apps_revisions.restart_revision(self.group, self.name, revision)

    def log_lines(self, follow=False, tail=None):
        """Console log lines of the latest revision's first replica, as `az containerapp logs
        show` reads them: a short-lived token from getAuthToken, then the log stream."""
        import requests
        app = self.get()
        revision = self.latest_revision(app)
        replicas = self.replicas(revision)
        if not replicas:
            raise ResourceNotFoundError(f"Revision '{revision}' has no running replica, so no log "
                                        "yet. Fix: wait a moment, or check 'az aitk-infer "
                                        "show-endpoint --live'")
        token = self.client.container_apps.get_auth_token(self.group, self.name,
                                                          logging_enable=False).token
        base = app.event_stream_endpoint[:app.event_stream_endpoint.index("/subscriptions/")]
        container = app.template.containers[0].name
        url = (f"{base}/subscriptions/{self.subscription}/resourceGroups/{self.group}/containerApps/"
               f"{self.name}/revisions/{revision}/replicas/{replicas[0]}/containers/{container}"
               "/logstream")
        params = {"follow": str(follow).lower(), "output": "text"}
        if tail is not None:
            params["tailLines"] = tail
        with requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"},
                          stream=True, timeout=(10, None if follow else 60)) as response:
            if not response.ok:
                raise ResourceNotFoundError(f"Log stream of '{self.name}' answered HTTP "
                                            f"{response.status_code}")
            for line in response.iter_lines(decode_unicode=True):
                if line:
                    yield line
