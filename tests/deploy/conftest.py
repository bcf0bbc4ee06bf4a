"""An HTTPS Azure Files server built from localcloud's own parts (files routes, the stats and
fault middleware), in this process, plus helpers to build local source trees."""
import base64
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.fileshare import ShareClient

from azext_aitkinfer._client_factory import retry_policy
from localcloud.faults import Faults
from localcloud.server import observe
from localcloud.stats import Stats
from localcloud.storage.models import FileStore
from localcloud.testing.files_server import running_files_server

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
    key = base64.b64encode(os.urandom(64)).decode()
    stats, faults = Stats(), Faults()
    with running_files_server(tmp_path_factory.mktemp("deploy-cloud"), ACCOUNT, key,
                              [observe(stats, faults)]) as (url, ca, store):
        yield FilesCloud(url, ca, key, store, stats, faults)


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
