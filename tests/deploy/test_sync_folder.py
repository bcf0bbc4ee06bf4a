"""sync_folder: model folders mirrored incrementally to a share folder (real HTTPS Azure Files)."""
import hashlib
import json
import os

import pytest
from azure.cli.core.azclierror import FileOperationError

from azext_aitkinfer.folder_mirror import MANIFEST_NAME, sync_folder
from azext_aitkinfer.share_files import RANGE_BYTES, remote_md5
from tests.deploy.conftest import file_bytes_sent, settled, write_tree

REMOTE = "models/adapter"


@pytest.fixture
def model_dir(tmp_path):
    return write_tree(tmp_path / "adapter", {
        "adapter_config.json": '{"r": 16}',
        "adapter_model.safetensors": os.urandom(3 * RANGE_BYTES + 1234),  # several ranges
        "tokenizer/tokenizer.json": "{}",
    })


def share_tree(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME}


def local_tree(folder):
    return share_tree(folder)


def test_first_sync_uploads_everything_and_the_share_matches_by_hash(files_cloud, share, model_dir):
    progress = []
    summary = sync_folder(share, model_dir, REMOTE, progress=lambda *done_total: progress.append(done_total),
                          download_check=True)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert summary == {"uploaded": 3, "skipped": 0, "deleted": 0, "bytes": size}
    assert share_tree(files_cloud.share_folder(share.share_name) / REMOTE) == local_tree(model_dir)
    assert progress[-1] == (size, size)
    assert remote_md5(share, f"{REMOTE}/adapter_config.json") == hashlib.md5(b'{"r": 16}').digest()


def test_unchanged_folder_costs_one_request_and_no_bytes(files_cloud, share, model_dir):
    sync_folder(share, model_dir, REMOTE)
    files_cloud.stats.reset()
    assert sync_folder(share, model_dir, REMOTE) == {"uploaded": 0, "skipped": 3, "deleted": 0, "bytes": 0}
    assert file_bytes_sent(files_cloud.stats) == 0
    assert settled(files_cloud.stats)["requests"] == 1


def test_changed_and_deleted_files_are_mirrored(files_cloud, share, model_dir):
    sync_folder(share, model_dir, REMOTE)
    (model_dir / "adapter_config.json").write_text('{"r": 8}')
    (model_dir / "tokenizer" / "tokenizer.json").unlink()
    (model_dir / "tokenizer").rmdir()
    files_cloud.stats.reset()
    summary = sync_folder(share, model_dir, REMOTE, download_check=True)
    assert summary == {"uploaded": 1, "skipped": 1, "deleted": 1, "bytes": 8}
    folder = files_cloud.share_folder(share.share_name) / REMOTE
    assert share_tree(folder) == local_tree(model_dir)
    assert not (folder / "tokenizer").exists()
    manifest_size = (folder / MANIFEST_NAME).stat().st_size
    assert file_bytes_sent(files_cloud.stats) == 8 + manifest_size


def test_without_a_manifest_files_are_compared_by_size_and_content_md5(files_cloud, share, model_dir):
    """A sync that was interrupted leaves no manifest: the next one re-checks file by file."""
    sync_folder(share, model_dir, REMOTE)
    folder = files_cloud.share_folder(share.share_name) / REMOTE
    (folder / MANIFEST_NAME).unlink()
    (model_dir / "adapter_config.json").write_text('{"r": 4}')
    files_cloud.stats.reset()
    summary = sync_folder(share, model_dir, REMOTE, download_check=True)
    assert (summary["uploaded"], summary["skipped"]) == (1, 2)
    assert json.loads((folder / MANIFEST_NAME).read_text())["files"].keys() == local_tree(model_dir).keys()


def test_unreadable_manifest_falls_back_to_comparing_files(files_cloud, share, model_dir):
    sync_folder(share, model_dir, REMOTE)
    folder = files_cloud.share_folder(share.share_name) / REMOTE
    (folder / MANIFEST_NAME).write_text("{not json")
    summary = sync_folder(share, model_dir, REMOTE, download_check=True)
    assert (summary["uploaded"], summary["skipped"]) == (0, 3)
    assert "sha256" in json.loads((folder / MANIFEST_NAME).read_text())["files"]["adapter_config.json"]


def test_names_azure_refuses_are_reported_before_any_upload(files_cloud, share, model_dir):
    write_tree(model_dir, {"bad:name.txt": "x"})
    with pytest.raises(FileOperationError, match=r"bad:name\.txt: Azure Files does not allow"):
        sync_folder(share, model_dir, REMOTE)
    assert settled(files_cloud.stats)["requests"] == 0
