"""Atomic, content-addressed code versions of `inference_src/` on the share.

The layout on the share (objects/, versions/, the pointer `current`, bootstrap.py, envs/) is
defined once, in share_bootstrap.py (the container's start command, standard library only); the
names here are built from it. A deploy uploads the missing objects, then the manifest, then renames a new pointer over
`current`: a replica that starts at any moment runs a complete old or a complete new version. Deploys
to one share run one at a time (deploy_lock.py); these functions expect the caller to hold that lock.
"""
import datetime
import hashlib
import json
from pathlib import Path

from azure.cli.core.azclierror import AzCLIError, FileOperationError, ValidationError
from knack.log import get_logger

from . import share_bootstrap as layout
from .local_tree import DEFAULT_WORKERS, Content, scan_tree
from .share_files import (
    Progress,
    delete_if_exists,
    download_bytes,
    ensure_directories,
    is_tmp_name,
    remote_md5,
    run_parallel,
    share_errors,
    upload_atomic,
    upload_many,
)

logger = get_logger(__name__)

ROOT = layout.ROOT
OBJECTS = f"{ROOT}/{layout.OBJECTS}"
VERSIONS = f"{ROOT}/{layout.VERSIONS}"
POINTER = f"{ROOT}/{layout.POINTER}"
BOOTSTRAP = f"{ROOT}/{layout.BOOTSTRAP}"
KEEP_VERSIONS = 3
# What pruning leaves alone however unused it looks, in case a deploy writes beside this one after
# all (one that lost its lock, or an extension from before the lock). A day outlasts any upload;
# older leftovers go next time.
PRUNE_GRACE_S = 24 * 3600
LARGE_CODE_FILE_BYTES = 100 * 2**20  # a server's code is small; model weights go elsewhere
ENTRYPOINT = layout.ENTRYPOINT
_BOOTSTRAP_SOURCE = Path(layout.__file__)


def version_files(local):
    """The manifest's files map for a scanned tree."""
    return {rel: {"sha256": f.content.sha256, "size": f.content.size, "mode": f.mode}
            for rel, f in sorted(local.items())}


def version_id(files):
    """Same tree -> same id, whatever the order of scanning."""
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def read_history(share):
    """Version ids from the pointer, active first; [] before the first deploy."""
    raw = download_bytes(share, POINTER)
    lines = raw.decode("utf-8", "replace").splitlines() if raw else []
    return [line.strip() for line in lines if line.strip()]


def read_manifest(share, version):
    """The manifest's files map, or None if it is missing or unreadable."""
    raw = download_bytes(share, f"{VERSIONS}/{version}.json")
    try:
        files = json.loads(raw)["files"] if raw is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    return files if isinstance(files, dict) else None


def _write_pointer(share, history):
    upload_atomic(share, POINTER, Content.of_bytes(("\n".join(history) + "\n").encode()))


def _ensure_bootstrap(share):
    """Upload bootstrap.py when the share's copy differs (compared by content MD5, no download)."""
    content = Content.of_file(_BOOTSTRAP_SOURCE)
    if remote_md5(share, BOOTSTRAP) != content.md5:
        upload_atomic(share, BOOTSTRAP, content)


def deploy_code(share, local_dir, *, progress=None, workers=DEFAULT_WORKERS, prune_grace_s=PRUNE_GRACE_S,
                still_locked=None):
    """Publish `local_dir` as a version and make it active; a no-op when it is active already.

    Returns {"version", "uploaded", "skipped", "deleted", "bytes"} (deleted: files the previous
    version had that this one has not). The caller holds the share's deploy lock, so nothing else
    changes the share meanwhile; `still_locked()` runs just before the pointer switch and raises if
    the lock was lost. An interrupted deploy leaves the share whole: objects and manifests are
    renamed into place, and the pointer last. Pruning then removes what no kept version names
    once it is older than `prune_grace_s`.
    """
    local_dir = Path(local_dir)
    local = scan_tree(local_dir, workers, large_file_bytes=LARGE_CODE_FILE_BYTES)
    if ENTRYPOINT not in local:
        raise FileOperationError(f"{local_dir / ENTRYPOINT}: missing. Fix: restore it; the container's "
                                 "start command runs it")
    if len(local) > layout.MAX_FILES:
        raise FileOperationError(f"{local_dir}: {len(local)} files, more than the {layout.MAX_FILES} the "
                                 "container starts. Fix: list what it does not need in .aitkignore")
    files = version_files(local)
    version = version_id(files)
    with share_errors(f"deploying {local_dir} to share '{share.share_name}'"):
        history = read_history(share)
        if not history:
            ensure_directories(share, [ROOT, OBJECTS, VERSIONS])
        _ensure_bootstrap(share)
        if history and history[0] == version:
            return _summary(version, files, uploaded={}, previous=files)
        # Objects named by kept manifests are complete (a manifest is written after its objects);
        # any other object may be a leftover of an interrupted deploy, so it is uploaded again.
        kept = dict(zip(history, run_parallel(lambda v: read_manifest(share, v), history, workers),
                        strict=True))
        complete = {entry["sha256"] for manifest in kept.values() if manifest for entry in manifest.values()}
        missing = {f.content.sha256: f.content for f in local.values() if f.content.sha256 not in complete}
        total = Progress(sum(c.size for c in missing.values()), progress)
        # Atomic: a deploy killed mid-upload leaves a temporary name, never a torn object.
        upload_many(share, [(f"{OBJECTS}/{sha}", c) for sha, c in missing.items()], workers, total,
                    atomic=True)
        if kept.get(version) is None:
            manifest = {"version": version, "created": datetime.datetime.now(datetime.UTC).isoformat(),
                        "files": files}
            upload_atomic(share, f"{VERSIONS}/{version}.json",
                          Content.of_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode()))
        previous = kept.get(history[0]) if history else None
        if still_locked:
            still_locked()
        history = [version, *(v for v in history if v != version)][:KEEP_VERSIONS]
        _write_pointer(share, history)
    _prune(share, history, prune_grace_s)
    return _summary(version, files, uploaded={sha: c.size for sha, c in missing.items()}, previous=previous)


def _summary(version, files, uploaded, previous):
    return {"version": version, "uploaded": len(uploaded),
            "skipped": sum(1 for entry in files.values() if entry["sha256"] not in uploaded),
            "deleted": len(set(previous or ()) - set(files)), "bytes": sum(uploaded.values())}


def rollback(share, still_locked=None):
    """Make the previous version active again (the active one becomes the previous); the caller
    holds the deploy lock, and `still_locked()` runs before the pointer switch."""
    with share_errors(f"rolling back on share '{share.share_name}'"):
        history = read_history(share)
        if len(history) < 2:
            raise ValidationError(f"share '{share.share_name}': no previous version to roll back to "
                                  f"({len(history)} deployed). Fix: deploy twice before rolling back")
        previous = history[1]
        if read_manifest(share, previous) is None:
            raise ValidationError(f"share '{share.share_name}': the previous version {previous} is "
                                  "incomplete on the share. Fix: run 'az aitk-infer deploy' instead")
        if still_locked:
            still_locked()
        _write_pointer(share, [previous, history[0], *history[2:]])
    return {"version": previous, "replaced": history[0]}


def _prune(share, history, grace_s):
    """Remove manifests and objects no kept version (`history`) needs, and leftovers of interrupted
    deploys, once they are older than `grace_s`; a younger manifest's objects stay too (see
    PRUNE_GRACE_S). Failures only warn: the next deploy prunes again."""
    try:
        with share_errors("pruning old versions"):
            cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=grace_s)
            manifests = _listing(share, VERSIONS)
            young = [n[:-len(".json")] for n, when in manifests.items()
                     if n.endswith(".json") and _after(when, cutoff)]
            needed = list(dict.fromkeys([*history, *young]))
            named = dict(zip(needed, run_parallel(lambda v: read_manifest(share, v), needed,
                                                  DEFAULT_WORKERS), strict=True))
            _delete_old(share, VERSIONS, manifests, {f"{v}.json" for v in needed}, cutoff)
            if all(named.get(v) is not None for v in history):
                used = {e["sha256"] for files in named.values() if files for e in files.values()}
                _delete_old(share, OBJECTS, _listing(share, OBJECTS), used, cutoff)
            leftovers = {n: when for n, when in _listing(share, ROOT).items() if is_tmp_name(n)}
            _delete_old(share, ROOT, leftovers, set(), cutoff)
    except AzCLIError as ex:
        logger.warning("%s; old versions stay on the share until the next deploy", ex)


def _listing(share, directory):
    """{file name: last modified} of a share folder."""
    return {e.name: e.last_modified for e in share.list_directories_and_files(
        directory, include=["timestamps"]) if not e.is_directory}


def _after(when, cutoff):
    return when is None or when > cutoff  # no timestamp: treat as young, never delete it


def _delete_old(share, directory, listing, keep, cutoff):
    doomed = [f"{directory}/{name}" for name, when in listing.items()
              if name not in keep and not _after(when, cutoff)]
    run_parallel(lambda path: delete_if_exists(share, path), doomed, DEFAULT_WORKERS)
