"""deploy_code / rollback against a real HTTPS Azure Files server (localcloud's), checked on its disk."""
import hashlib
import json
import os
import shutil

import pytest
from azure.cli.core.azclierror import FileOperationError, ValidationError

from azext_aitkinfer import codeversions
from azext_aitkinfer.codeversions import KEEP_VERSIONS, deploy_code, read_history, rollback, version_files, version_id
from azext_aitkinfer.local_tree import Content, scan_tree
from azext_aitkinfer.share_files import upload_atomic
from tests.deploy.conftest import file_bytes_sent, settled, write_tree


def active_tree(folder):
    """{relpath: sha256} of the version `current` names, read from the share's files on disk."""
    root = folder / "aitk-infer"
    version = (root / "current").read_text().splitlines()[0]
    files = json.loads((root / "versions" / f"{version}.json").read_text())["files"]
    for entry in files.values():
        stored = (root / "objects" / entry["sha256"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == entry["sha256"]
    return {rel: entry["sha256"] for rel, entry in files.items()}


def local_tree(folder, skip=()):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in skip}


def test_first_deploy_uploads_every_file_and_activates_the_version(files_cloud, share, source_tree):
    progress = []
    summary = deploy_code(share, source_tree, progress=lambda done, total: progress.append((done, total)))
    folder = files_cloud.share_folder(share.share_name)
    assert summary["uploaded"] == 5 and summary["skipped"] == 0
    assert summary["bytes"] == sum(p.stat().st_size for p in source_tree.rglob("*") if p.is_file())
    assert read_history(share) == [summary["version"]]
    assert active_tree(folder) == local_tree(source_tree)
    bootstrap = folder / "aitk-infer" / "bootstrap.py"
    assert bootstrap.read_bytes() == codeversions._BOOTSTRAP_SOURCE.read_bytes()
    assert progress[-1] == (summary["bytes"], summary["bytes"])
    assert file_bytes_sent(files_cloud.stats) >= summary["bytes"]


def test_noop_redeploy_sends_no_file_bytes_and_at_most_three_requests(files_cloud, share, source_tree):
    first = deploy_code(share, source_tree)
    files_cloud.stats.reset()
    again = deploy_code(share, source_tree)
    stats = settled(files_cloud.stats)
    assert again == {"version": first["version"], "uploaded": 0, "skipped": 5, "deleted": 0, "bytes": 0}
    assert file_bytes_sent(files_cloud.stats) == 0
    assert stats["requests"] <= 3


def test_one_file_change_uploads_only_that_file_manifest_and_pointer(files_cloud, share, source_tree):
    deploy_code(share, source_tree)
    changed = source_tree / "app" / "main.py"
    changed.write_text("print('hello again')\n")
    files_cloud.stats.reset()
    summary = deploy_code(share, source_tree)
    folder = files_cloud.share_folder(share.share_name) / "aitk-infer"
    manifest_size = (folder / "versions" / f"{summary['version']}.json").stat().st_size
    pointer_size = (folder / "current").stat().st_size
    assert (summary["uploaded"], summary["skipped"], summary["bytes"]) == (1, 4, changed.stat().st_size)
    assert file_bytes_sent(files_cloud.stats) == changed.stat().st_size + manifest_size + pointer_size
    assert active_tree(folder.parent) == local_tree(source_tree)


def test_deleted_file_is_gone_from_the_active_version(files_cloud, share, source_tree):
    deploy_code(share, source_tree)
    (source_tree / "app" / "util.py").unlink()
    summary = deploy_code(share, source_tree)
    assert summary["deleted"] == 1 and summary["uploaded"] == 0
    assert "app/util.py" not in active_tree(files_cloud.share_folder(share.share_name))


def test_ignored_files_are_never_uploaded(files_cloud, share, source_tree):
    write_tree(source_tree, {".env": "OPENAI_API_KEY=sk-secret", ".git/HEAD": "ref", "notes.tmp": "scratch",
                             "app/__pycache__/main.cpython-311.pyc": "x" * 999, ".aitkignore": "*.tmp\n"})
    summary = deploy_code(share, source_tree)
    folder = files_cloud.share_folder(share.share_name)
    shipped = local_tree(source_tree, skip={".env", "app/__pycache__/main.cpython-311.pyc", ".git/HEAD",
                                            "notes.tmp", ".aitkignore"})
    assert active_tree(folder) == shipped
    assert summary["bytes"] == sum((source_tree / rel).stat().st_size for rel in shipped)
    objects = {p.name for p in (folder / "aitk-infer" / "objects").iterdir()}
    assert hashlib.sha256(b"OPENAI_API_KEY=sk-secret").hexdigest() not in objects


def test_deploy_without_launch_sh_is_refused_naming_the_file(share, source_tree):
    (source_tree / "launch.sh").unlink()
    with pytest.raises(FileOperationError, match=r"launch\.sh: missing"):
        deploy_code(share, source_tree)


def test_only_the_last_versions_and_their_objects_are_kept(files_cloud, share, source_tree):
    versions = []
    for number in range(KEEP_VERSIONS + 2):
        (source_tree / "app" / "main.py").write_text(f"print({number})\n")
        versions.append(deploy_code(share, source_tree, prune_grace_s=0)["version"])
    folder = files_cloud.share_folder(share.share_name) / "aitk-infer"
    kept = versions[::-1][:KEEP_VERSIONS]
    assert read_history(share) == kept
    assert sorted(p.name for p in (folder / "versions").iterdir()) == sorted(f"{v}.json" for v in kept)
    referenced = {e["sha256"] for v in kept
                  for e in json.loads((folder / "versions" / f"{v}.json").read_text())["files"].values()}
    assert {p.name for p in (folder / "objects").iterdir()} == referenced
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_rollback_switches_back_to_the_previous_version_and_back_again(files_cloud, share, source_tree):
    old = local_tree(source_tree)
    first = deploy_code(share, source_tree)["version"]
    (source_tree / "requirements.txt").write_text("fastapi\nuvicorn\n")
    second = deploy_code(share, source_tree)["version"]
    folder = files_cloud.share_folder(share.share_name)
    assert rollback(share) == {"version": first, "replaced": second}
    assert active_tree(folder) == old
    assert rollback(share) == {"version": second, "replaced": first}
    assert active_tree(folder) == local_tree(source_tree)


def test_rollback_with_a_single_version_says_there_is_nothing_to_roll_back_to(share, source_tree):
    deploy_code(share, source_tree)
    with pytest.raises(ValidationError, match="no previous version to roll back to"):
        rollback(share)


def test_interrupted_object_upload_is_redone_by_the_next_deploy(files_cloud, share, source_tree):
    """An object left half-written (no manifest names it) is uploaded again, not trusted."""
    deploy_code(share, source_tree)
    extra = source_tree / "app" / "new.py"
    extra.write_text("NEW = True\n")
    objects = files_cloud.share_folder(share.share_name) / "aitk-infer" / "objects"
    (objects / hashlib.sha256(extra.read_bytes()).hexdigest()).write_bytes(b"NEW")  # truncated leftover
    summary = deploy_code(share, source_tree)
    assert summary["uploaded"] == 1
    assert active_tree(files_cloud.share_folder(share.share_name)) == local_tree(source_tree)


def test_pointer_names_nothing_partial_even_when_the_share_was_emptied(files_cloud, share, source_tree):
    """A share whose aitk-infer folder was removed by hand gets a full fresh deploy."""
    deploy_code(share, source_tree)
    folder = files_cloud.share_folder(share.share_name)
    shutil.rmtree(folder / "aitk-infer")
    summary = deploy_code(share, source_tree)
    assert summary["uploaded"] == 5
    assert active_tree(folder) == local_tree(source_tree)
    assert os.access(folder / "aitk-infer" / "bootstrap.py", os.R_OK)


def test_cleanup_leaves_alone_what_a_deploy_without_the_lock_has_uploaded(files_cloud, share, source_tree, tmp_path):
    """Defence in depth behind the deploy lock: deploy A (one that lost its lock, or an extension
    from before it) has uploaded its objects and manifest but not yet switched the pointer when
    deploy B finishes and prunes: A's version must stay whole, and A can still make it active."""
    deploy_code(share, source_tree)
    other = write_tree(tmp_path / "other", {"launch.sh": "echo other\n", "only-in-a.py": "A = 1\n" * 50})
    local = scan_tree(other)
    files = version_files(local)
    pending = version_id(files)
    for f in local.values():
        upload_atomic(share, f"{codeversions.OBJECTS}/{f.content.sha256}", f.content)
    upload_atomic(share, f"{codeversions.VERSIONS}/{pending}.json",
                  Content.of_bytes(json.dumps({"version": pending, "files": files}).encode()))
    for number in range(KEEP_VERSIONS + 1):  # B deploys enough to push everything else out
        (source_tree / "app" / "main.py").write_text(f"print({number})\n")
        deploy_code(share, source_tree)
    codeversions._write_pointer(share, [pending, *read_history(share)])  # A's last step
    assert active_tree(files_cloud.share_folder(share.share_name)) == local_tree(other)
