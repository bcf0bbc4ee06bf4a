"""Where the ARM schema tests find Azure's schemas: ARM_SCHEMAS_DIR, the shared reference folder
beside the repository, else a download of the pinned files, each checked by its git blob id."""
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from arm_schema import PINNED_BLOBS, SchemaMissing, git_blob_id, locate_schemas
from conftest import REPO


@pytest.fixture
def pinned_copy(tmp_path):
    """The pinned files, from wherever this run found them."""
    source = locate_schemas(REPO, tmp_path / "unused-cache")
    copy = tmp_path / "schemas"
    for relative in PINNED_BLOBS:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, copy / relative)
    return copy


@pytest.fixture
def schema_server(pinned_copy):
    """The pinned files over HTTP on 127.0.0.1, standing in for raw.githubusercontent.com."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(pinned_copy))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_arm_schemas_dir_wins_when_its_files_are_the_pinned_ones(monkeypatch, pinned_copy, tmp_path):
    monkeypatch.setenv("ARM_SCHEMAS_DIR", str(pinned_copy))
    assert locate_schemas(REPO, tmp_path / "cache") == pinned_copy


def test_a_changed_schema_file_is_refused_naming_it(monkeypatch, pinned_copy, tmp_path):
    changed = pinned_copy / "common" / "definitions.json"
    changed.write_bytes(changed.read_bytes() + b" ")
    monkeypatch.setenv("ARM_SCHEMAS_DIR", str(pinned_copy))
    with pytest.raises(SchemaMissing, match="definitions.json is not blob"):
        locate_schemas(REPO, tmp_path / "cache")


def test_a_clone_without_local_schemas_downloads_and_checks_the_pinned_files(monkeypatch, schema_server,
                                                                            tmp_path):
    monkeypatch.delenv("ARM_SCHEMAS_DIR", raising=False)
    clone = tmp_path / "elsewhere" / "repo"  # no ../shared beside it
    found = locate_schemas(clone, tmp_path / "cache", base=schema_server)
    assert found == tmp_path / "cache"
    assert {r: git_blob_id((found / r).read_bytes()) for r in PINNED_BLOBS} == PINNED_BLOBS


def test_no_local_schemas_and_no_download_is_one_line_saying_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.delenv("ARM_SCHEMAS_DIR", raising=False)
    with pytest.raises(SchemaMissing) as caught:
        locate_schemas(tmp_path / "elsewhere" / "repo", tmp_path / "cache", base="http://127.0.0.1:9")
    message = str(caught.value)
    assert "\n" not in message and "ARM_SCHEMAS_DIR" in message and "failed" in message


def test_the_shared_reference_folder_beside_the_repository_is_used(monkeypatch, pinned_copy, tmp_path):
    monkeypatch.delenv("ARM_SCHEMAS_DIR", raising=False)
    shared = tmp_path / "work" / "shared" / "reference" / "arm-schemas"
    shutil.copytree(pinned_copy, shared)
    assert locate_schemas(tmp_path / "work" / "repo", tmp_path / "cache", base="http://127.0.0.1:9") == shared
