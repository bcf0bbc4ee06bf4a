"""Container app ingress: per app an HTTPS port on 127.0.0.1 (its FQDN) proxying to a ready replica.

Responses stream through chunk by chunk (server-sent events must not wait for the end). When the
client goes away, the request to the replica is cut too, as Azure's Envoy resets the upstream stream
when the downstream one ends: the replica sees its connection close and can stop working for nobody.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import aiohttp
from aiohttp import web

from localcloud.containerapps.runtime import Runtime

NO_REPLICA_RETRY_AFTER = "5"
# Hop-by-hop headers (RFC 9110 7.6.1) are for one connection, never forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
}


class Ingress:
    def __init__(self, ssl_context: ssl.SSLContext, runtime: Runtime, middlewares: list):
        self._ssl = ssl_context
        self._runtime = runtime
        self._middlewares = middlewares
        self._runners: dict[str, tuple[int, web.AppRunner]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )

    def setter(self) -> Callable[[str, int | None], None]:
        """For the models (worker threads): serve app_key on port, or stop serving it with None."""

        def set_port(app_key: str, port: int | None) -> None:
            asyncio.run_coroutine_threadsafe(self._set(app_key, port), self._loop).result(timeout=30)

        return set_port

    async def _set(self, app_key: str, port: int | None) -> None:
        current = self._runners.get(app_key)
        if current and current[0] == port:
            return
        if current:
            await current[1].cleanup()
            del self._runners[app_key]
        if port is None:
            return
        app = web.Application(middlewares=self._middlewares, client_max_size=0)
        app["ingress_app"] = app_key.rsplit("/", 1)[-1]
        app.router.add_route("*", "/{tail:.*}", lambda request: self._proxy(request, app_key))
        # handler_cancellation: a client's disconnect cancels the proxying handler (aiohttp keeps it
        # running otherwise), which closes the connection to the replica below.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=self._ssl, reuse_address=True).start()
        self._runners[app_key] = (port, runner)

    async def _proxy(self, request: web.Request, app_key: str) -> web.StreamResponse:
        port = self._runtime.ready_port(app_key)
        if port is None:
            return web.Response(
                status=503,
                headers={"Retry-After": NO_REPLICA_RETRY_AFTER},
                text="No replica of this container app is ready yet.\n",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.update(
            {
                "Host": request.host,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": request.host,
                "X-Forwarded-For": request.remote or "127.0.0.1",
            }
        )
        try:
            upstream = await self._session.request(
                request.method,
                f"http://127.0.0.1:{port}{request.rel_url}",
                headers=headers,
                data=request.content if request.body_exists else None,
                allow_redirects=False,
            )
        except aiohttp.ClientError:
            return web.Response(status=502, text="The replica did not answer.\n")
        try:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        except BaseException:
            upstream.close()  # the client left (or the write failed): cut the replica's connection, never pool it
            raise
        finally:
            upstream.release()

    async def close(self) -> None:
        for _, runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()
        if self._session is not None:
            await self._session.close()
