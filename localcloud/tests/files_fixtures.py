"""A real HTTPS aiohttp server with only the Azure Files routes, for the FILES tests."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.fileshare import ShareClient, ShareServiceClient

from localcloud.storage.models import FileStore
from localcloud.testing.files_server import running_files_server

ACCOUNT = "devfiles1"


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
