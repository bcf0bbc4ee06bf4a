"""Mirroring a local folder into a share folder (model and adapter folders): upload what changed,
delete what is gone, with a manifest on the share that makes an unchanged folder cost one request.
"""
import base64
import json
from dataclasses import dataclass

from azure.cli.core.azclierror import AzureResponseError
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from knack.log import get_logger

from .local_tree import DEFAULT_WORKERS, Content, check_azure_names, scan_tree
from .share_files import (
    Progress,
    delete_if_exists,
    download_bytes,
    ensure_directories,
    hash_remote,
    list_tree,
    parent_directories,
    remote_md5,
    run_parallel,
    share_errors,
    upload_atomic,
    upload_many,
)

logger = get_logger(__name__)

MANIFEST_NAME = ".aitk-manifest.json"


def _remote_state(share, remote_dir, workers):
    """(files {relpath: {"sha256" or "md5", "size"}}, existing directories, manifest_valid).

    The manifest is trusted when readable; without it the listing plus each file's content MD5
    decide (files are renamed into place whole, so a listed file with the right MD5 is complete).
    """
    manifest_path = f"{remote_dir}/{MANIFEST_NAME}"
    raw = download_bytes(share, manifest_path)
    files = None
    if raw is not None:
        try:
            files = json.loads(raw)["files"]
        except (ValueError, KeyError, TypeError):
            files = None
        if not isinstance(files, dict):
            logger.warning("%s/%s is unreadable; comparing files one by one", share.share_name, manifest_path)
            files = None
    if files is not None:
        directories = {d for rel in files for d in parent_directories(f"{remote_dir}/{rel}")}
        return files, directories | set(parent_directories(manifest_path)), True
    sizes, directories = list_tree(share, remote_dir)
    if directories:
        directories.update(parent_directories(remote_dir))

    def properties(relpath):
        md5 = remote_md5(share, f"{remote_dir}/{relpath}")
        return relpath, {"size": sizes[relpath], "md5": base64.b64encode(md5).decode() if md5 else None}

    return dict(run_parallel(properties, sorted(sizes), workers)), directories, False


def _unchanged(local_file, remote):
    if remote is None or remote.get("size") != local_file.content.size:
        return False
    if "sha256" in remote:
        return remote["sha256"] == local_file.content.sha256
    return remote.get("md5") == local_file.content.md5_base64


def _manifest(local):
    files = {rel: {"sha256": f.content.sha256, "md5": f.content.md5_base64, "size": f.content.size}
             for rel, f in sorted(local.items())}
    return Content.of_bytes(json.dumps({"files": files}, indent=1, sort_keys=True).encode())


@dataclass(frozen=True)
class _Changes:
    """What a sync must do: files to upload, share files to delete, directories already there."""
    changed: list
    gone: list
    existing: set


def sync_folder(share, local_dir, remote_dir, *, progress=None, workers=DEFAULT_WORKERS,
                download_check=False):
    """Mirror `local_dir` into `remote_dir` on the share: upload what changed, delete what is gone.

    Returns {"uploaded", "skipped", "deleted", "bytes"}. The manifest is removed before the first
    change and written last, so an interrupted sync is re-checked file by file next time.
    `download_check` downloads every file again and compares hashes (the tests use it).
    """
    remote_dir = remote_dir.strip("/")
    local = scan_tree(local_dir, workers)
    check_azure_names(local_dir, local)
    with share_errors(f"syncing {local_dir} to {share.share_name}/{remote_dir}"):
        remote, existing, manifest_valid = _remote_state(share, remote_dir, workers)
        changes = _Changes(changed=[f for rel, f in local.items() if not _unchanged(f, remote.get(rel))],
                           gone=sorted(set(remote) - set(local)), existing=existing)
        if changes.changed or changes.gone or not manifest_valid:
            _apply(share, remote_dir, local, changes, progress=progress, workers=workers)
        if download_check:
            _verify(share, remote_dir, local, workers)
    changed = changes.changed
    return {"uploaded": len(changed), "skipped": len(local) - len(changed), "deleted": len(changes.gone),
            "bytes": sum(f.content.size for f in changed)}


def _apply(share, remote_dir, local, changes, *, progress, workers):
    changed, gone, existing = changes.changed, changes.gone, changes.existing
    manifest_path = f"{remote_dir}/{MANIFEST_NAME}"
    delete_if_exists(share, manifest_path)
    needed = {d for f in changed for d in parent_directories(f"{remote_dir}/{f.relpath}")}
    ensure_directories(share, needed | set(parent_directories(manifest_path)), existing)
    total = Progress(sum(f.content.size for f in changed), progress)
    jobs = [(f"{remote_dir}/{f.relpath}", f.content) for f in changed]
    upload_many(share, jobs, workers, total, atomic=True)
    run_parallel(lambda rel: delete_if_exists(share, f"{remote_dir}/{rel}"), gone, workers)
    _remove_emptied_directories(share, remote_dir, gone, local)
    upload_atomic(share, manifest_path, _manifest(local))


def _remove_emptied_directories(share, remote_dir, gone, local):
    """Folders that held only removed files go too, deepest first."""
    def folders(relpaths):
        return {d for rel in relpaths for d in parent_directories(rel)}
    for directory in sorted(folders(gone) - folders(local), key=lambda d: -d.count("/")):
        try:
            share.get_directory_client(f"{remote_dir}/{directory}").delete_directory()
        except (ResourceNotFoundError, ResourceExistsError):  # gone already, or holds foreign files
            pass


def _verify(share, remote_dir, local, workers):
    """Download every file and compare hashes; no other files may be there."""
    sizes, _ = list_tree(share, remote_dir)
    extra = set(sizes) - set(local) - {MANIFEST_NAME}
    if extra:
        raise AzureResponseError(f"{share.share_name}/{remote_dir}: holds files that are not in the "
                                 f"local folder after the sync: {', '.join(sorted(extra)[:5])}. Fix: run "
                                 "the command again")
    hashes = dict(run_parallel(lambda rel: (rel, hash_remote(share, f"{remote_dir}/{rel}")), sorted(local),
                               workers))
    wrong = [rel for rel, f in local.items() if hashes[rel] != f.content.sha256]
    if wrong:
        raise AzureResponseError(f"{share.share_name}/{remote_dir}: content differs from the local "
                                 f"folder after the sync: {', '.join(sorted(wrong)[:5])}. Fix: run the "
                                 "command again")
