"""ARM over HTTP: each route of urls.py answered from the models, in ARM's wire format."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import json5
from aiohttp import web

from localcloud.arm import urls
from localcloud.arm.deployments import Deployments
from localcloud.arm.exceptions import ArmError, invalid_request, missing_api_version, unauthenticated
from localcloud.arm.ids import ResourceId, parse_provider_path, parse_resource_id
from localcloud.arm.lro import RETRY_AFTER_SECONDS, Operations
from localcloud.arm.models import ArmBackend
from localcloud.authorization import urls as authorization_urls
from localcloud.authorization.models import RoleAssignments
from localcloud.identity.models import InvalidToken, TokenIssuer
from localcloud.routing import resolve

ARM_PREFIXES = ("subscriptions", "tenants", "providers", "metadata")
logger = logging.getLogger(__name__)
# A handler for paths ARM shares its /subscriptions prefix with (the Container Apps log stream).
SideRoute = Callable[[web.Request, list[str]], Awaitable[web.StreamResponse] | None]


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


def operation_name(method: str, path: str) -> str:
    """A stable name per ARM operation for stats and faults, e.g. 'arm:PUT Microsoft.App/containerApps'."""
    segments = [s for s in path.strip("/").split("/") if s]
    lower = [s.lower() for s in segments]
    if "operationstatuses" in lower or "operationresults" in lower:
        return f"arm:{method} operationStatuses"
    if "providers" in lower and len(lower) > 4 and lower[2] == "resourcegroups":
        rest = segments[lower.index("providers") + 1 :]
        names = [rest[0], *rest[1::2]]
        return f"arm:{method} {'/'.join(names)}"
    if len(lower) >= 3 and lower[2] == "resourcegroups":
        return f"arm:{method} resourceGroups" + ("/resources" if lower[-1] == "resources" else "")
    if "providers" in lower:
        rest = segments[lower.index("providers") + 1 :]
        return f"arm:{method} providers" + (f"/{rest[-1]}" if len(rest) > 1 else "")
    return f"arm:{method} {segments[0] if segments else ''}".rstrip()


class ArmRouter:
    def __init__(
        self,
        backend: ArmBackend,
        deployments: Deployments,
        operations: Operations,
        issuer: TokenIssuer,
        roles: RoleAssignments,
        side_route: SideRoute | None = None,
    ):
        self.roles = roles
        self.side_route = side_route
        self.backend = backend
        self.deployments = deployments
        self.operations = operations
        self.issuer = issuer
        self.base_url = backend.context.base_url

    # -- entry point -----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        segments = [s for s in request.path.strip("/").split("/") if s]
        side = self.side_route(request, segments) if self.side_route else None
        if side is not None:
            return await side
        try:
            if [s.lower() for s in segments] == ["metadata", "endpoints"]:
                return web.json_response(self.metadata())
            self._authenticate(request)
            if "api-version" not in request.query:
                raise missing_api_version()
            body = await _json_body(request)
            loop = asyncio.get_running_loop()
            # Models block (locks, processes, threads): keep them off the event loop.
            reply = await loop.run_in_executor(
                None, self._dispatch, request.method, segments, dict(request.query), body
            )
        except ArmError as exc:
            reply = Reply(exc.status, {"error": exc.to_dict()})
        except Exception:
            logger.exception("ARM request %s %s failed", request.method, request.path)
            reply = Reply(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": "localcloud failed on this request; see its server.log.",
                    }
                },
            )
        headers = {"x-ms-request-id": request.headers.get("x-ms-client-request-id", ""), **reply.headers}
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.json_response(reply.body, status=reply.status, headers=headers)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated(
                "The request has no 'Authorization: Bearer <token>' header: run 'az login --identity' "
                "with the local cloud's env file sourced."
            )
        try:
            self.issuer.verify(token)
        except InvalidToken as exc:
            raise unauthenticated(f"The access token is not valid for this local cloud ({exc}).") from exc

    def metadata(self) -> dict:
        return {
            "name": "localcloud",
            "resourceManager": f"{self.base_url}/",
            "authentication": {
                "loginEndpoint": self.base_url,
                "audiences": ["https://management.core.windows.net/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {"storage": "localcloud.internal"},
        }

    # -- dispatch (worker thread): the route table in urls.py names the handler --------------------
    def _dispatch(self, method: str, segments: list[str], query: dict, body) -> Reply:
        extension = authorization_urls.split_scope(segments)
        if extension is not None:
            return self._authorization(method, *extension, query, body)
        found = resolve(urls.routes, method, segments)
        if found is None:
            raise ArmError(404, "NotFound", f"No ARM route for '/{'/'.join(segments)}'.")
        route, params = found
        if not route.methods:
            raise ArmError(405, "MethodNotAllowed", f"{method} is not supported on '/{'/'.join(segments)}'.")
        if "subscription" in params:
            self.backend.check_subscription(params["subscription"])
        return getattr(self, route.handler)(method, params, query["api-version"], body)

    # -- Microsoft.Authorization below any scope (authorization/urls.py) ---------------------------
    def _authorization(self, method: str, scope: str, rest: list[str], query: dict, body) -> Reply:
        found = resolve(authorization_urls.routes, method, rest)
        if found is None or not found[0].methods:
            where = f"{scope}/providers/Microsoft.Authorization/{'/'.join(rest)}"
            raise ArmError(404, "NotFound", f"No route for '{where}'.")
        route, params = found
        if scope.lower().startswith("/subscriptions/"):
            self.backend.check_subscription(scope.split("/")[2])
        scope = scope or f"/subscriptions/{self.backend.context.subscription_id}"
        return getattr(self, route.handler)(method, scope, params.get("name", ""), query.get("$filter"), body)

    def list_role_assignments(self, method, scope, name, filter_text, body) -> Reply:
        return Reply(200, {"value": self.roles.list(scope, filter_text)})

    def role_assignment(self, method, scope, name, filter_text, body) -> Reply:
        if method == "PUT":
            view, created = self.roles.put(scope, name, body)
            return Reply(201 if created else 200, view)
        if method == "DELETE":
            record = self.roles.delete(scope, name)
            return Reply(200, record) if record else Reply(204)
        return Reply(200, self.roles.get(scope, name))

    def list_role_definitions(self, method, scope, name, filter_text, body) -> Reply:
        return Reply(200, {"value": self.roles.list_definitions(filter_text)})

    def role_definition(self, method, scope, name, filter_text, body) -> Reply:
        return Reply(200, self.roles.definition(name))

    def tenants(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.backend.tenants()})

    def subscriptions(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": [self.backend.subscription(self.backend.context.subscription_id)]})

    def subscription(self, method, p, version, body) -> Reply:
        return Reply(200, self.backend.subscription(p["subscription"]))

    def locations(self, method, p, version, body) -> Reply:
        location = self.backend.context.location
        return Reply(
            200,
            {
                "value": [
                    {
                        "name": location,
                        "displayName": self.backend.location_display(),
                        "id": f"/subscriptions/{p['subscription']}/locations/{location}",
                    }
                ]
            },
        )

    def providers(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.backend.providers()})

    def provider(self, method, p, version, body) -> Reply:
        return Reply(200, self.backend.provider(p["namespace"]))

    def check_name(self, method, p, version, body) -> Reply:
        kind = self.backend.kind_of(f"{p['namespace']}/storageAccounts", version)
        return Reply(200, kind.check_name(str((body or {}).get("name", ""))))

    def list_in_subscription(self, method, p, version, body) -> Reply:
        resource_type = f"{p['namespace']}/{p['type']}"
        return Reply(200, {"value": self.backend.list(resource_type, None, p["subscription"], None, version)})

    def list_groups(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.backend.list_groups(p["subscription"])})

    def group_resources(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.backend.list_group_resources(p["subscription"], p["group"])})

    def group(self, method, p, version, body) -> Reply:
        sub, group = p["subscription"], p["group"]
        if method == "PUT":
            view, created = self.backend.put_group(sub, group, body or {})
            return Reply(201 if created else 200, view)
        if method == "PATCH":
            current = self.backend.get_group(sub, group)
            view, _ = self.backend.put_group(sub, group, {**current, "tags": (body or {}).get("tags", current["tags"])})
            return Reply(200, view)
        if method == "HEAD":
            try:
                self.backend.get_group(sub, group)
            except ArmError:
                return Reply(404)
            return Reply(204)
        if method == "DELETE":
            self.backend.delete_group(sub, group)
            operation_id = self.operations.completed()
            return Reply(202, None, self._location_headers(f"/subscriptions/{sub}/operationresults/{operation_id}"))
        return Reply(200, self.backend.get_group(sub, group))

    def resource(self, method, p, version, body) -> Reply:
        sub, group = p["subscription"], p["group"]
        tail = p["path"].split("/")
        parsed = parse_provider_path(sub, group, tail)
        if parsed.resource is None:  # .../providers/{ns}/{type}: a collection in the group
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported on '{p['path']}'.")
            return Reply(200, {"value": self.backend.list(f"{tail[0]}/{parsed.tail}", None, sub, group, version)})
        if parsed.tail is None:
            return self._resource(method, parsed.resource, body, version)
        if method == "POST":
            return Reply(200, self.backend.action(parsed.resource, parsed.tail, body, version))
        if method == "GET":
            child_type = f"{parsed.resource.type}/{parsed.tail}"
            return Reply(200, {"value": self.backend.list(child_type, parsed.resource, sub, group, version)})
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported on '{p['path']}'.")

    def _resource(self, method: str, rid: ResourceId, body, version: str) -> Reply:
        kind = self.backend.kind_of(rid.type, version)
        if method in ("PUT", "PATCH"):
            view, created = self.backend.put(rid, body or {}, version, patch=method == "PATCH")
            status = kind.created_status if created else 200
            if kind.lro == "location":
                return Reply(
                    202,
                    None,
                    self._lro_headers(rid, self.operations.completed(str(rid)), version, "Location"),
                )
            if kind.lro == "async":
                return Reply(
                    status,
                    view,
                    self._lro_headers(rid, self.operations.completed(), version, "Azure-AsyncOperation"),
                )
            return Reply(status, view)
        if method == "DELETE":
            if not self.backend.delete(rid, version):
                return Reply(204)
            if kind.lro:
                return Reply(
                    202,
                    None,
                    self._lro_headers(rid, self.operations.completed(), version, "Azure-AsyncOperation", "Location"),
                )
            return Reply(200)
        if method == "HEAD":
            self.backend.get(rid, version)
            return Reply(204)
        return Reply(200, self.backend.get(rid, version))

    def list_deployments(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.deployments.list(p["subscription"], p["group"])})

    def validate_deployment(self, method, p, version, body) -> Reply:
        return Reply(200, self.deployments.validate(p["subscription"], p["group"], p["deployment"], body))

    def deployment_operations(self, method, p, version, body) -> Reply:
        return Reply(200, {"value": self.deployments.list_operations(p["subscription"], p["group"], p["deployment"])})

    def deployment_status(self, method, p, version, body) -> Reply:
        reply = self.operation_status(method, p, version, body)
        if reply.body["status"] == "InProgress":
            reply.body["status"] = "Running"
        return reply

    def deployment(self, method, p, version, body) -> Reply:
        sub, group, name = p["subscription"], p["group"], p["deployment"]
        if method == "PUT":
            view, created, operation_id = self.deployments.create(sub, group, name, body)
            path = (
                f"/subscriptions/{sub}/resourcegroups/{group}/providers/Microsoft.Resources/deployments/{name}"
                f"/operationStatuses/{operation_id}"
            )
            headers = {
                "Azure-AsyncOperation": f"{self.base_url}{path}?api-version=2024-03-01",
                "Retry-After": RETRY_AFTER_SECONDS,
            }
            return Reply(201 if created else 200, view, headers)
        if method == "DELETE":
            return Reply(202 if self.deployments.delete(sub, group, name) else 204)
        if method == "HEAD":
            self.deployments.get(sub, group, name)
            return Reply(204)
        return Reply(200, self.deployments.get(sub, group, name))

    # -- long-running operations -----------------------------------------------------------------
    def _lro_headers(self, rid: ResourceId, operation_id: str, version: str, *names: str) -> dict:
        """Polling headers: a Location URL answers with the resource once done, a status URL with a status."""
        base = (
            f"{self.base_url}/subscriptions/{rid.subscription}/providers/{rid.namespace}/locations/"
            f"{self.backend.context.location}"
        )
        urls = {
            "Azure-AsyncOperation": f"{base}/operationStatuses/{operation_id}?api-version={version}",
            "Location": f"{base}/operationResults/{operation_id}?api-version={version}",
        }
        return {**{name: urls[name] for name in names}, "Retry-After": RETRY_AFTER_SECONDS}

    def _location_headers(self, path: str) -> dict:
        return {
            "Location": f"{self.base_url}{path}?api-version=2022-09-01",
            "Retry-After": RETRY_AFTER_SECONDS,
        }

    def operation_status(self, method, p, version, body) -> Reply:
        operation_id = p["operation"]
        status = self.operations.status(operation_id)
        if status is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{operation_id}' was not found.")
        # While running, say when to ask again: without it the SDK pollers wait 30 s.
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status["status"] == "InProgress" else {}
        return Reply(200, {"id": operation_id, **status}, headers)

    def operation_result(self, method, p, version, body) -> Reply:
        operation_id = p["operation"]
        status = self.operations.status(operation_id)
        if status is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{operation_id}' was not found.")
        if status["status"] == "InProgress":
            return Reply(202, None, {"Retry-After": RETRY_AFTER_SECONDS})
        resource_id = self.operations.resource_of(operation_id)
        if resource_id is None:
            return Reply(200)
        return Reply(200, self.backend.get(parse_resource_id(resource_id)))


async def _json_body(request: web.Request):
    if not request.body_exists:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        pass
    # az sends deployments as JSONC (unquoted 'template' key, the template file verbatim with its comments);
    # ARM accepts that, so parse it leniently.
    try:
        return json5.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"The request content is not valid JSON: {exc}.") from exc


def add_routes(app: web.Application, router: ArmRouter) -> None:
    for prefix in ARM_PREFIXES:
        app.router.add_route("*", f"/{prefix}", router.handle)
        app.router.add_route("*", f"/{prefix}/{{tail:.*}}", router.handle)
