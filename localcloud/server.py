"""The local cloud server: one HTTPS port for ARM, identity, Files and /_localcloud; one per app ingress."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
import uuid

from aiohttp import web

from localcloud.arm.deployments import Deployments
from localcloud.arm.lro import Operations
from localcloud.arm.models import ArmBackend, CloudContext
from localcloud.arm.responses import ARM_PREFIXES, ArmRouter, operation_name
from localcloud.arm.responses import add_routes as add_arm_routes
from localcloud.authorization.models import RoleAssignments
from localcloud.ca import ensure_tls
from localcloud.containerapps.discard import sweep
from localcloud.containerapps.environments import EnvironmentStorages, ManagedEnvironments
from localcloud.containerapps.ingress import Ingress
from localcloud.containerapps.models import ContainerApps, Replicas, Revisions
from localcloud.containerapps.responses import LogStream
from localcloud.containerapps.runtime import Runtime
from localcloud.faults import FaultConfigError, Faults
from localcloud.identity import responses as identity_responses
from localcloud.identity import urls as identity_urls
from localcloud.identity.models import TokenIssuer
from localcloud.loganalytics.models import Workspaces
from localcloud.routing import Route
from localcloud.state import StateDir, StateFile
from localcloud.stats import Stats
from localcloud.storage import urls as storage_urls
from localcloud.storage.access import DataPlaneAccess
from localcloud.storage.accounts import FileServices, FileShares, StorageAccounts
from localcloud.storage.models import FileStore

logger = logging.getLogger("localcloud")
CONTROL_PREFIX = "_localcloud"
_FILES_WRITE_METHODS = {"PUT", "POST", "DELETE", "PATCH"}
CONTROL_ROUTES = [
    Route(("GET",), f"/{CONTROL_PREFIX}/health", "_health", "is the cloud serving"),
    Route(("GET",), f"/{CONTROL_PREFIX}/stats", "_stats", "requests, bytes in and out per operation"),
    Route(("DELETE",), f"/{CONTROL_PREFIX}/stats", "_reset_stats", "reset the counters"),
    Route(("GET",), f"/{CONTROL_PREFIX}/faults", "_get_faults", "the fault injection in force"),
    Route(("POST",), f"/{CONTROL_PREFIX}/faults", "_set_faults", "set (or with an empty body reset) fault injection"),
]


def cloud_settings(state: StateFile, port: int | None = None) -> dict:
    """Ids, secrets and the port of this cloud: made once, then kept so az's login stays valid."""
    with state.lock:
        cloud = state.section("cloud")
        cloud.setdefault("subscriptionId", str(uuid.uuid4()))
        cloud.setdefault("tenantId", str(uuid.uuid4()))
        cloud.setdefault("principalId", str(uuid.uuid4()))
        cloud.setdefault("tokenSecret", secrets.token_urlsafe(32))
        cloud.setdefault("identityHeader", secrets.token_urlsafe(24))
        if port is not None:
            cloud["port"] = port
        state.save()
        return dict(cloud)


def classify(request: web.Request) -> str | None:
    """The operation name used by stats and faults; None for the control endpoints."""
    ingress_app = request.app.get("ingress_app")
    if ingress_app:
        return f"ingress:{ingress_app}"
    first = request.path.strip("/").split("/", 1)[0]
    if first == CONTROL_PREFIX:
        return None
    if request.path == identity_urls.TOKEN_PATH:
        return "identity:token"
    if request.path.endswith(("/logstream", "/eventstream")):
        return "logstream"
    if first in ARM_PREFIXES:
        return operation_name(request.method, request.path)
    access = "write" if request.method in _FILES_WRITE_METHODS else "read"
    detail = request.query.get("comp") or request.query.get("restype") or "file"
    return f"files:{access}:{request.method} {detail}"


def _fault_response(operation: str, response: str, retry_after: int) -> web.Response:
    status = int(response)
    code = "TooManyRequests" if status == 429 else "ServerBusy"
    message = "Injected by localcloud fault injection."
    headers = {"Retry-After": str(retry_after)}
    if operation.startswith("files:"):
        headers["x-ms-error-code"] = code
        return web.Response(
            status=status,
            headers=headers,
            content_type="application/xml",
            text=f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>",
        )
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def observe(stats: Stats, faults: Faults):
    @web.middleware
    async def middleware(request: web.Request, handler):
        operation = classify(request)
        if operation is None:
            return await handler(request)
        fault = faults.transport_fault(operation)
        if fault is not None and fault.response == "cut":
            stats.record(operation, 0, 0)
            request.transport.abort()
            raise asyncio.CancelledError  # nothing may be written to the cut connection
        if fault is not None:
            response = _fault_response(operation, fault.response, fault.retry_after)
        else:
            response = await handler(request)
        stats.record(
            operation,
            request.content.total_bytes,
            response.body_length if response.prepared else len(response.body or b""),
        )
        return response

    return middleware


class LocalCloud:
    def __init__(self, state_dir: StateDir):
        self.dirs = state_dir
        self.state = StateFile(state_dir.state_file)
        self.settings = cloud_settings(self.state)
        self.port = self.settings["port"]
        self.tls = ensure_tls(state_dir.tls)
        self.stats, self.faults = Stats(), Faults()
        self.issuer = TokenIssuer(self.settings["tokenSecret"], self.settings["tenantId"], self.settings["principalId"])
        self.files = FileStore(state_dir.files)
        self.runtime = Runtime(state_dir.pids)
        self.middlewares = [observe(self.stats, self.faults)]
        self.ingress = Ingress(self.tls.server_context(), self.runtime, self.middlewares)
        context = CloudContext(
            f"https://127.0.0.1:{self.port}", self.settings["subscriptionId"], self.settings["tenantId"]
        )
        self.backend = ArmBackend(self.state, context, self.faults)
        self.roles = RoleAssignments(self.backend)
        self.storage = StorageAccounts(self.backend, self.files)
        self.apps = ContainerApps(self.backend, self.runtime, self.files, state_dir, self.ingress.setter(), self.issuer)
        self.backend.register(
            self.storage,
            FileServices(self.backend),
            FileShares(self.backend, self.files),
            Workspaces(self.backend),
            ManagedEnvironments(self.backend),
            EnvironmentStorages(self.backend),
            self.apps,
            Revisions(self.backend, self.apps),
            Replicas(self.backend, self.runtime),
        )
        self.operations = Operations()
        self.logstream = LogStream(state_dir.replicas, self.issuer, self.runtime)
        self.router = ArmRouter(
            self.backend,
            Deployments(self.backend, self.operations),
            self.operations,
            self.issuer,
            self.roles,
            side_route=self.logstream.route,
        )

    def application(self) -> web.Application:
        app = web.Application(middlewares=self.middlewares, client_max_size=0)
        for route in CONTROL_ROUTES:
            app.router.add_route(route.methods[0], route.pattern, getattr(self, route.handler))
        identity_responses.add_routes(app, self.issuer, self.settings["identityHeader"])
        add_arm_routes(app, self.router)
        storage_urls.add_routes(app, self.files, DataPlaneAccess(self.storage, self.issuer, self.roles))
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "url": self.backend.context.base_url})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def _reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response(self.stats.snapshot())

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.describe())

    async def _set_faults(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            self.faults.configure(json.loads(raw) if raw.strip() else None)
        except (ValueError, FaultConfigError) as exc:
            return web.json_response({"error": {"code": "InvalidFaults", "message": str(exc)}}, status=400)
        return web.json_response(self.faults.describe())

    async def serve(self) -> None:
        """Serve until SIGTERM/SIGINT, then end every replica and close every port."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await self.ingress.open()
        try:
            await web.TCPSite(
                runner, "127.0.0.1", self.port, ssl_context=self.tls.server_context(), reuse_address=True
            ).start()
            await loop.run_in_executor(None, self._resume)
            logger.info("localcloud serving on %s", self.backend.context.base_url)
            await stop.wait()
        finally:
            await loop.run_in_executor(None, self.runtime.shutdown)
            await self.ingress.close()
            await runner.cleanup()

    def _resume(self) -> None:
        sweep(self.dirs.layers)  # writable layers the last server stopped before deleting
        with self.state.lock:
            self.apps.resume()
