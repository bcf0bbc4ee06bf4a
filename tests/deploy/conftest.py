"""An HTTPS Azure Files server built from localcloud's own parts (files routes, the stats and
fault middleware), in this process, plus helpers to build local source trees."""
import base64
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from azure.storage.fileshare import ShareClient

from azext_aitkinfer.filesync import retry_policy
from localcloud.ca import ensure_tls
from localcloud.faults import Faults
from localcloud.files.models import FileStore
from localcloud.files.responses import add_routes
from localcloud.server import observe
from localcloud.stats import Stats
from tests.localcloud.files_fixtures import START_TIMEOUT_S, _ServerThread

ACCOUNT = "deploytests1"


@dataclass
class FilesCloud:
    url: str
    ca_file: Path
    key: str
    store: FileStore
    stats: Stats
    faults: Faults

    def share_client(self, name):
        return ShareClient(f"{self.url}/{ACCOUNT}", name, credential={"account_name": ACCOUNT,
                                                                      "account_key": self.key},
                           connection_verify=str(self.ca_file), retry_policy=retry_policy())

    def share_folder(self, name):
        """The share's files as plain files, as a container app sees its mount."""
        return self.store.share_path(ACCOUNT, name)


@pytest.fixture(scope="session")
def files_cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy-cloud")
    key = base64.b64encode(os.urandom(64)).decode()
    store, stats, faults = FileStore(root / "files"), Stats(), Faults()
    app = web.Application(middlewares=[observe(stats, faults)])
    add_routes(app, store, lambda account: [base64.b64decode(key)] if account == ACCOUNT else None)
    tls = ensure_tls(root / "tls")
    server = _ServerThread(app, tls.server_context())
    server.start()
    if not server.ready.wait(START_TIMEOUT_S):
        raise RuntimeError("the Azure Files test server did not start")
    try:
        yield FilesCloud(f"https://127.0.0.1:{server.port}", tls.ca_cert, key, store, stats, faults)
    finally:
        server.stop()


@pytest.fixture
def share(files_cloud):
    """A fresh share per test, deleted afterwards; faults and counters reset."""
    files_cloud.faults.configure(None)
    client = files_cloud.share_client(f"d{uuid.uuid4().hex[:12]}")
    client.create_share()
    files_cloud.stats.reset()
    try:
        yield client
    finally:
        files_cloud.faults.configure(None)
        client.delete_share()


def write_tree(root, files):
    """files: {relpath: bytes or str}; returns root."""
    root = Path(root)
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def settled(stats, quiet_s=0.05, limit_s=3.0):
    """The counters once no request is still being recorded: the middleware counts a streamed
    response after its last byte, which the client may have read a moment earlier."""
    deadline = time.monotonic() + limit_s
    snapshot = stats.snapshot()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        again = stats.snapshot()
        if again == snapshot:
            break
        snapshot = again
    return snapshot


def file_bytes_sent(stats):
    """Bytes the server received in Put Range requests: the file contents uploaded."""
    return settled(stats)["operations"].get("files:write:PUT range", {}).get("bytesIn", 0)


@pytest.fixture
def source_tree(tmp_path):
    """A small inference_src-like folder with a launch.sh that reports what it runs."""
    return write_tree(tmp_path / "inference_src", {
        "launch.sh": 'echo "launched $AITK_VERSION from $PWD with code root $AITK_CODE_ROOT"\n',
        "app/main.py": "print('hello')\n",
        "app/util.py": "X = 1\n" * 200,
        "requirements.txt": "fastapi\n",
        "weights/small.bin": os.urandom(300_000),
    })
