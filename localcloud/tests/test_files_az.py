"""The real `az storage file|directory|share` commands against the Azure Files routes."""

import json
import os
from pathlib import Path

from localcloud.testing import offline_env, run_az

pytest_plugins = ["localcloud.tests.files_fixtures"]  # the files_server and share fixtures


def _az(files_server, tmp_path, *args):
    env = offline_env(
        AZURE_CONFIG_DIR=str(tmp_path / "azconfig"),
        REQUESTS_CA_BUNDLE=str(files_server.ca_file),
        AZURE_STORAGE_CONNECTION_STRING=files_server.connection_string(),
    )
    result = run_az(*args, "--only-show-errors", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert files_server.key not in result.stdout + result.stderr
    return result.stdout


def _files_in(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_az_uploads_lists_downloads_and_deletes_a_file(files_server, share, tmp_path):
    source = tmp_path / "inference.config.json"
    source.write_bytes(b'{"endpoint": "x"}')
    az = lambda *args: _az(files_server, tmp_path, *args, "--share-name", share.share_name)  # noqa: E731
    az("storage", "directory", "create", "--name", "cfg")
    az("storage", "file", "upload", "--source", str(source), "--path", "cfg/inference.config.json")
    listed = json.loads(az("storage", "file", "list", "--path", "cfg", "-o", "json"))
    assert [(e["name"], e["properties"]["contentLength"]) for e in listed] == [("inference.config.json", 17)]
    az(
        "storage",
        "file",
        "download",
        "--path",
        "cfg/inference.config.json",
        "--dest",
        str(tmp_path / "back.json"),
    )
    assert (tmp_path / "back.json").read_bytes() == source.read_bytes()
    az("storage", "file", "delete", "--path", "cfg/inference.config.json")
    assert not share.get_file_client("cfg/inference.config.json").exists()


def test_az_upload_batch_and_download_batch_round_trip_a_tree(files_server, share, tmp_path):
    tree = tmp_path / "inference_src"
    (tree / "app" / "static").mkdir(parents=True)
    (tree / "app" / "server.py").write_text("print('hi')\n")
    (tree / "app" / "static" / "blob.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 3))
    (tree / "start.sh").write_text("#!/bin/sh\n")
    _az(
        files_server,
        tmp_path,
        "storage",
        "file",
        "upload-batch",
        "--destination",
        share.share_name,
        "--source",
        str(tree),
    )
    back = tmp_path / "back"
    back.mkdir()
    _az(
        files_server,
        tmp_path,
        "storage",
        "file",
        "download-batch",
        "--source",
        share.share_name,
        "--destination",
        str(back),
    )
    assert _files_in(back) == _files_in(tree)
