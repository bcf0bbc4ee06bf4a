"""The Container Apps console log stream (what `az containerapp logs show` reads), from replica log files.

Path (on the local cloud's port, as the app's eventStreamEndpoint base gives it):
/subscriptions/{s}/resourceGroups/{g}/containerApps/{app}/revisions/{rev}/replicas/{replica}/containers/{c}/logstream
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections import deque
from collections.abc import Awaitable
from pathlib import Path

from aiohttp import web

from localcloud.containerapps import urls
from localcloud.containerapps.runtime import Runtime
from localcloud.identity.models import InvalidToken, TokenIssuer
from localcloud.routing import resolve

DEFAULT_TAIL_LINES = 20
MAX_TAIL_LINES = 300
_POLL_SECONDS = 0.2


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class LogStream:
    def __init__(self, replicas_dir: Path, issuer: TokenIssuer, runtime: Runtime):
        self.replicas_dir = replicas_dir
        self.issuer = issuer
        self.runtime = runtime

    def route(self, request: web.Request, segments: list[str]) -> Awaitable[web.StreamResponse] | None:
        found = resolve(urls.routes, request.method, segments)
        if found is None or not found[0].methods:
            return None
        route, params = found
        return getattr(self, route.handler)(request, params)

    def _authorized(self, request: web.Request, app_name: str) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = self.issuer.verify(token) if scheme.lower() == "bearer" else None
        except InvalidToken:
            return False
        return bool(claims) and str(claims.get("aud", "")).lower().endswith(f"/containerapps/{app_name.lower()}")

    async def console(self, request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        replica_name = params["replica"]
        log_path = self.replicas_dir / replica_name / "console.log"
        if not log_path.is_file():
            return _error(404, "ReplicaNotFound", f"Replica '{replica_name}' has no log.")
        return await self._stream(request, params["app"], log_path, lambda: self.runtime.find(replica_name) is not None,
                                  _format)

    async def system(self, request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        """The app's system log: one JSON event per line, as Container Apps writes them."""
        log_path = self.replicas_dir / f"{params['app']}.system.log"
        log_path.touch()
        return await self._stream(request, params["app"], log_path, lambda: True, lambda line, _: line)

    async def _stream(self, request: web.Request, app_name: str, log_path: Path, alive, fmt) -> web.StreamResponse:
        if not self._authorized(request, app_name):
            return _error(
                401,
                "Unauthorized",
                "The log stream needs 'Authorization: Bearer <token>' from the app's getAuthToken action.",
            )
        try:
            tail = int(request.query.get("tailLines") or DEFAULT_TAIL_LINES)
        except ValueError:
            return _error(400, "InvalidTailLines", "tailLines must be an integer between 0 and 300.")
        if not 0 <= tail <= MAX_TAIL_LINES:
            return _error(400, "InvalidTailLines", "tailLines must be an integer between 0 and 300.")
        as_json = request.query.get("output") == "json"
        follow = request.query.get("follow", "false").lower() == "true"
        response = web.StreamResponse(headers={"Content-Type": "application/json" if as_json else "text/plain"})
        await response.prepare(request)
        with open(log_path, "rb") as log:
            for line in deque(log, maxlen=tail) if tail else []:
                await response.write(fmt(line, as_json))
            while follow:
                line = log.readline()
                if line.endswith(b"\n"):
                    await response.write(fmt(line, as_json))
                    continue
                log.seek(-len(line), 1)
                if not alive():
                    break
                await asyncio.sleep(_POLL_SECONDS)
        await response.write_eof()
        return response


def _format(line: bytes, as_json: bool) -> bytes:
    text = line.decode("utf-8", "replace").rstrip("\n")
    if not as_json:
        return (text + "\n").encode()
    stamp = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    return (json.dumps({"TimeStamp": stamp, "Log": f"F {text}"}) + "\n").encode()
