"""An in-process HTTPS server with only the Azure Files routes of localcloud, for tests that need a
share without a whole local cloud (the product's sync code, the Files data-plane tests)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from localcloud.ca import ensure_tls
from localcloud.storage.access import shared_key_only
from localcloud.storage.models import FileStore
from localcloud.storage.urls import add_routes

START_TIMEOUT_S = 10


class _ServerThread(threading.Thread):
    """Runs the aiohttp app on its own event loop until stop()."""

    def __init__(self, app: web.Application, tls_context):
        super().__init__(daemon=True)
        self.app, self.tls_context = app, tls_context
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.tls_context)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=START_TIMEOUT_S)


@contextmanager
def running_files_server(root: Path, account: str, key: str, middlewares=()) -> Iterator[tuple]:
    """An HTTPS server with the Azure Files routes and one account; yields (url, CA file, store)."""
    store = FileStore(root / "files")
    app = web.Application(middlewares=list(middlewares))
    add_routes(app, store, shared_key_only(lambda name: [base64.b64decode(key)] if name == account else None))
    tls = ensure_tls(root / "tls")
    server = _ServerThread(app, tls.server_context())
    server.start()
    if not server.ready.wait(START_TIMEOUT_S):
        raise RuntimeError("the Azure Files test server did not start")
    try:
        yield f"https://127.0.0.1:{server.port}", tls.ca_cert, store
    finally:
        server.stop()
