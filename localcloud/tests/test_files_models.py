"""FileStore behaviour without HTTP: what a container sees in the share folder, and what survives."""

import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from localcloud.storage import exceptions as err
from localcloud.storage.models import ContentSettings, FileStore

ACCOUNT, SHARE = "acct1", "models"


@pytest.fixture
def store(tmp_path):
    store = FileStore(tmp_path / "files")
    store.create_share(ACCOUNT, SHARE)
    return store


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_share_folder_holds_plain_files_and_properties_live_outside_it(store):
    store.create_directory(ACCOUNT, SHARE, "model")
    store.create_file(
        ACCOUNT, SHARE, "model/config.json", 2, ContentSettings("application/json", content_md5=_md5(b"{}"))
    )
    store.write_range(ACCOUNT, SHARE, "model/config.json", 0, b"{}")
    share_dir = store.share_path(ACCOUNT, SHARE)
    assert sorted(str(p.relative_to(share_dir)) for p in share_dir.rglob("*")) == [
        "model",
        "model/config.json",
    ]
    assert (share_dir / "model" / "config.json").read_bytes() == b"{}"
    entry = store.get_entry(ACCOUNT, SHARE, "model/config.json")
    assert (entry.content.content_type, entry.content.content_md5) == ("application/json", _md5(b"{}"))


def test_shares_files_and_properties_survive_a_new_store_on_the_same_root(store, tmp_path):
    store.create_file(ACCOUNT, SHARE, "kept.bin", 3, ContentSettings(content_md5=_md5(b"abc")), {"k": "v"})
    store.write_range(ACCOUNT, SHARE, "kept.bin", 0, b"abc")
    reopened = FileStore(tmp_path / "files")
    assert reopened.list_shares(ACCOUNT) == [SHARE]
    entry = reopened.get_entry(ACCOUNT, SHARE, "kept.bin")
    assert (entry.size, entry.content.content_md5, entry.metadata) == (3, _md5(b"abc"), {"k": "v"})
    assert b"".join(reopened.read_range(ACCOUNT, SHARE, "kept.bin", 0, 2)) == b"abc"


def test_create_share_twice_conflicts_unless_exist_ok(store):
    with pytest.raises(err.ShareAlreadyExists):
        store.create_share(ACCOUNT, SHARE)
    store.create_share(ACCOUNT, SHARE, quota_gb=100, exist_ok=True)
    assert store.share_info(ACCOUNT, SHARE).quota_gb == 100


def test_write_past_the_end_of_the_file_is_an_invalid_range(store):
    store.create_file(ACCOUNT, SHARE, "small", 4)
    with pytest.raises(err.InvalidRange):
        store.write_range(ACCOUNT, SHARE, "small", 2, b"abc")


def test_range_with_a_wrong_md5_is_refused_and_not_written(store):
    store.create_file(ACCOUNT, SHARE, "f", 4)
    with pytest.raises(err.Md5Mismatch):
        store.write_range(ACCOUNT, SHARE, "f", 0, b"abcd", content_md5=_md5(b"other"))
    assert (store.share_path(ACCOUNT, SHARE) / "f").read_bytes() == bytes(4)


def test_rename_over_an_existing_file_swaps_the_inode_in_one_step(store):
    for name, body in (("pointer", b"old"), ("pointer.new", b"new")):
        store.create_file(ACCOUNT, SHARE, name, 3, metadata={"v": name})
        store.write_range(ACCOUNT, SHARE, name, 0, body)
    share_dir = store.share_path(ACCOUNT, SHARE)
    new_inode = (share_dir / "pointer.new").stat().st_ino
    with pytest.raises(err.ResourceAlreadyExists):
        store.rename(ACCOUNT, SHARE, "pointer.new", "pointer", replace_if_exists=False, directory=False)
    store.rename(ACCOUNT, SHARE, "pointer.new", "pointer", replace_if_exists=True, directory=False)
    assert (share_dir / "pointer").stat().st_ino == new_inode
    assert (share_dir / "pointer").read_bytes() == b"new"
    assert not (share_dir / "pointer.new").exists()
    assert store.get_entry(ACCOUNT, SHARE, "pointer").metadata == {"v": "pointer.new"}


def test_parallel_range_writes_from_threads_each_land_at_their_offset(store):
    chunk, count = 64 * 1024, 48
    expected = os.urandom(chunk * count)
    store.create_file(ACCOUNT, SHARE, "parallel.bin", len(expected))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda i: store.write_range(
                    ACCOUNT, SHARE, "parallel.bin", i * chunk, expected[i * chunk : (i + 1) * chunk]
                ),
                range(count),
            )
        )
    assert (store.share_path(ACCOUNT, SHARE) / "parallel.bin").read_bytes() == expected


def test_data_ranges_cover_every_written_region(store):
    store.create_file(ACCOUNT, SHARE, "sparse", 4 << 20)
    written = [(0, 4095), (2 << 20, (2 << 20) + 8191)]
    for start, end in written:
        store.write_range(ACCOUNT, SHARE, "sparse", start, os.urandom(end - start + 1))
    ranges = store.data_ranges(ACCOUNT, SHARE, "sparse")
    assert all(any(lo <= start and end <= hi for lo, hi in ranges) for start, end in written)
    assert all(0 <= lo <= hi < 4 << 20 for lo, hi in ranges)


@pytest.mark.parametrize("bad", ["../escape", "a/./b", "bad:name", "star*"])
def test_names_azure_files_forbids_are_refused(store, bad):
    with pytest.raises(err.InvalidResourceName):
        store.create_file(ACCOUNT, SHARE, bad, 1)


def test_operations_below_a_missing_directory_report_parent_not_found(store):
    with pytest.raises(err.ParentNotFound):
        store.create_directory(ACCOUNT, SHARE, "missing/child")
    with pytest.raises(err.ParentNotFound):
        store.get_entry(ACCOUNT, SHARE, "missing/file.txt")
    with pytest.raises(err.ResourceNotFound):
        store.get_entry(ACCOUNT, SHARE, "file.txt")
