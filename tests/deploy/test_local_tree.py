"""Scanning a local folder: what ships, what is ignored, how symlinks are treated (no server)."""
import hashlib
import os

import pytest
from azure.cli.core.azclierror import FileOperationError

from azext_aitkinfer.codeversions import version_files, version_id
from azext_aitkinfer.local_tree import scan_tree
from tests.deploy.conftest import write_tree


def test_scan_lists_files_with_sha256_md5_size_and_posix_paths(tmp_path):
    write_tree(tmp_path, {"a.txt": "alpha", "sub/deeper/b.bin": b"\x00\x01"})
    found = scan_tree(tmp_path)
    assert sorted(found) == ["a.txt", "sub/deeper/b.bin"]
    content = found["a.txt"].content
    assert (content.size, content.sha256, content.md5) == (
        5, hashlib.sha256(b"alpha").hexdigest(), hashlib.md5(b"alpha").digest())


def test_default_ignores_drop_git_caches_venv_and_env_secrets(tmp_path):
    write_tree(tmp_path, {".git/config": "x", "pkg/__pycache__/m.cpython-311.pyc": "x", "pkg/old.pyc": "x",
                          ".venv/bin/python": "x", ".env": "API_KEY=secret", "pkg/m.py": "x",
                          "docs/.env.example": "kept"})
    assert sorted(scan_tree(tmp_path)) == ["docs/.env.example", "pkg/m.py"]


def test_aitkignore_patterns_match_names_anchored_paths_and_directories(tmp_path):
    write_tree(tmp_path, {".aitkignore": "# comment\n*.log\n/data/raw\ncache/\n\n",
                          "run.log": "x", "sub/run.log": "x", "data/raw/a.csv": "x", "data/keep.csv": "x",
                          "sub/data/raw/b.csv": "x", "cache/c": "x", "cache.txt": "x", "m.py": "x"})
    assert sorted(scan_tree(tmp_path)) == ["cache.txt", "data/keep.csv", "m.py", "sub/data/raw/b.csv"]


def test_aitkignore_negation_reincludes_as_in_gitignore(tmp_path):
    write_tree(tmp_path, {".aitkignore": "*.log\n!keep.log\n**/tmp/**\n", "a.py": "x", "run.log": "x",
                          "keep.log": "x", "sub/keep.log": "x", "x/tmp/y/z.txt": "x"})
    assert sorted(scan_tree(tmp_path)) == ["a.py", "keep.log", "sub/keep.log"]


SECRETS = {".env.local": "K=1", ".envrc": "export K=1", "id_rsa": "-----BEGIN", "id_rsa.pub": "ssh-rsa",
           "certs/server.pem": "-----BEGIN", "tls.key": "k", ".netrc": "machine x", ".git-credentials": "x",
           ".npmrc": "//registry:_authToken=x", ".pypirc": "[pypi]", ".aws/credentials": "[default]",
           ".ssh/config": "Host x"}


def test_secret_looking_files_are_not_uploaded_and_are_named(tmp_path, caplog):
    write_tree(tmp_path, {**SECRETS, "app.py": "x", ".env.example": "K=", "keys.py": "x"})
    with caplog.at_level("WARNING"):
        assert sorted(scan_tree(tmp_path)) == [".env.example", "app.py", "keys.py"]
    warning = " ".join(r.getMessage() for r in caplog.records)
    for name in (".env.local", ".envrc", "id_rsa", "certs/server.pem", ".netrc", ".aws/", ".ssh/"):
        assert name in warning
    assert "K=1" not in warning


def test_a_secret_looking_file_ships_when_aitkignore_reincludes_it(tmp_path):
    write_tree(tmp_path, {".aitkignore": "!tls.key\n", "tls.key": "public test key", "id_rsa": "x"})
    assert sorted(scan_tree(tmp_path)) == ["tls.key"]


def test_a_very_large_file_in_the_code_folder_is_named_in_a_warning(tmp_path, caplog):
    write_tree(tmp_path, {"big.bin": b"\0" * 4096, "small.py": "x"})
    with caplog.at_level("WARNING"):
        scan_tree(tmp_path, large_file_bytes=4096)
    assert any("big.bin" in r.getMessage() and "small.py" not in r.getMessage() for r in caplog.records)


def test_symlink_inside_the_folder_ships_its_target_content(tmp_path):
    write_tree(tmp_path, {"real/config.json": "{}"})
    os.symlink("real/config.json", tmp_path / "config.json")
    os.symlink("real", tmp_path / "alias")
    found = scan_tree(tmp_path)
    assert sorted(found) == ["alias/config.json", "config.json", "real/config.json"]
    assert found["config.json"].content.sha256 == found["real/config.json"].content.sha256


def test_symlink_pointing_outside_the_folder_is_refused_with_the_fix(tmp_path):
    outside = write_tree(tmp_path / "outside", {"secret.txt": "x"})
    inside = write_tree(tmp_path / "src", {"a.py": "x"})
    os.symlink(outside / "secret.txt", inside / "link.txt")
    with pytest.raises(FileOperationError, match=r"link\.txt: symlink points outside .*Fix: copy"):
        scan_tree(inside)


def test_symlink_outside_in_an_ignored_folder_is_fine(tmp_path):
    inside = write_tree(tmp_path / "src", {"a.py": "x"})
    (inside / ".venv" / "bin").mkdir(parents=True)
    os.symlink("/usr/bin/env", inside / ".venv" / "bin" / "python")
    assert sorted(scan_tree(inside)) == ["a.py"]


def test_symlink_loop_is_refused(tmp_path):
    write_tree(tmp_path, {"sub/a.py": "x"})
    os.symlink("..", tmp_path / "sub" / "up")
    with pytest.raises(FileOperationError, match="symlink loop"):
        scan_tree(tmp_path)


def test_broken_symlink_is_refused(tmp_path):
    write_tree(tmp_path, {"a.py": "x"})
    os.symlink("missing.py", tmp_path / "b.py")
    with pytest.raises(FileOperationError, match="broken symlink"):
        scan_tree(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileOperationError, match="not a folder"):
        scan_tree(tmp_path / "nope")


def test_version_id_depends_on_content_paths_and_executable_bit_only(tmp_path):
    first = write_tree(tmp_path / "one", {"a.sh": "echo", "b/c.py": "x"})
    second = write_tree(tmp_path / "two", {"b/c.py": "x", "a.sh": "echo"})
    same = version_id(version_files(scan_tree(first)))
    assert version_id(version_files(scan_tree(second))) == same
    os.chmod(second / "a.sh", 0o755)
    assert version_id(version_files(scan_tree(second))) != same
    (first / "b" / "c.py").write_text("y")
    assert version_id(version_files(scan_tree(first))) != same
    assert len(same) == 16 and int(same, 16) >= 0
