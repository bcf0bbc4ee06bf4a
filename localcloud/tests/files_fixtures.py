"""A real HTTPS aiohttp server with only the Azure Files routes, for the FILES tests."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from azure.storage.fileshare import ShareClient, ShareServiceClient

from localcloud.ca import ensure_tls
from localcloud.files.models import FileStore
from localcloud.files.responses import add_routes

ACCOUNT = "devfiles1"
START_TIMEOUT_S = 10


@dataclass
class FilesServer:
    url: str
    ca_file: Path
    store: FileStore
    key: str  # base64, as az and the SDK take it
    account: str = ACCOUNT

    @property
    def account_url(self) -> str:
        return f"{self.url}/{ACCOUNT}"

    def service(self, key: str | None = None) -> ShareServiceClient:
        return ShareServiceClient(
            self.account_url,
            credential={"account_name": ACCOUNT, "account_key": key or self.key},
            connection_verify=str(self.ca_file),
        )

    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={self.key};"
            f"FileEndpoint={self.account_url}"
        )


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
    add_routes(app, store, lambda name: [base64.b64decode(key)] if name == account else None)
    tls = ensure_tls(root / "tls")
    server = _ServerThread(app, tls.server_context())
    server.start()
    if not server.ready.wait(START_TIMEOUT_S):
        raise RuntimeError("the Azure Files test server did not start")
    try:
        yield f"https://127.0.0.1:{server.port}", tls.ca_cert, store
    finally:
        server.stop()


@pytest.fixture(scope="module")
def files_server(tmp_path_factory) -> Iterator[FilesServer]:
    key = base64.b64encode(os.urandom(64)).decode()
    with running_files_server(tmp_path_factory.mktemp("files"), ACCOUNT, key) as (url, ca, store):
        yield FilesServer(url, ca, store, key)


@pytest.fixture
def service(files_server: FilesServer) -> Iterator[ShareServiceClient]:
    """An SDK client whose connections are closed after the test."""
    with files_server.service() as client:
        yield client


@pytest.fixture
def share(service: ShareServiceClient) -> Iterator[ShareClient]:
    """A fresh share per test, deleted afterwards."""
    with service.get_share_client(f"t{uuid.uuid4().hex[:12]}") as client:
        client.create_share()
        try:
            yield client
        finally:
            client.delete_share()
