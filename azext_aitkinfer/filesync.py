"""Local folder -> Azure Files share: scan (with ignores), hash, parallel upload, incremental mirror.

`scan_tree` turns a local folder into {relpath: LocalFile} with content hashes; `sync_folder`
mirrors such a folder into a share folder (used for model folders); `codeversions` builds the
atomic, content-addressed code versions on the same primitives.

Imported only inside command functions: it pulls in the storage SDK.
"""
import base64
import fnmatch
import hashlib
import io
import json
import os
import re
import secrets
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from azure.cli.core.azclierror import (
    AzureConnectionError,
    AzureResponseError,
    FileOperationError,
    ValidationError,
)
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.storage.fileshare import ContentSettings, LocationMode
from knack.log import get_logger

logger = get_logger(__name__)

IGNORE_FILE = ".aitkignore"
# Never shipped: VCS data, caches, local virtualenvs, and `.env` (it holds secrets).
DEFAULT_IGNORES = (".git/", "__pycache__/", "*.pyc", ".venv/", ".env", IGNORE_FILE)
RANGE_BYTES = 4 * 1024 * 1024  # Azure Files' largest Put Range
DEFAULT_WORKERS = 8
MANIFEST_NAME = ".aitk-manifest.json"
_READ_CHUNK = 1024 * 1024
_TMP_NAME = re.compile(r"^.+\.[0-9a-f]{8}\.tmp$")
# Characters Azure Files refuses in names (Naming and Referencing Shares, Directories, Files).
_AZURE_FORBIDDEN = re.compile(r'["\\:|<>*?\x00-\x1f]')


class FilesRetryPolicy(RetryPolicy):
    """azure-core's retry policy fitted to storage clients: it retries 408/429/5xx and connection
    errors, honours Retry-After and backs off exponentially from a short start (the storage SDK's
    own policy does not retry 429 and first waits 15 s). Its secondary-location bookkeeping, which
    the storage pipeline expects of its retry policy, is reduced to "always the primary"."""

    _STORAGE_ONLY_OPTIONS = ("hosts", "location_mode", "retry_to_secondary", "retry_hook")

    def configure_retries(self, options):
        for name in self._STORAGE_ONLY_OPTIONS:
            options.pop(name, None)
        return super().configure_retries(options)

    def send(self, request):
        response = super().send(request)
        response.http_response.location_mode = LocationMode.PRIMARY
        return response


def retry_policy():
    """For every ShareClient these modules get: ShareClient(..., retry_policy=retry_policy())."""
    return FilesRetryPolicy(retry_total=10, retry_connect=6, retry_read=6, retry_status=8,
                            retry_backoff_factor=0.5, retry_backoff_max=30)


# ---- local side ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Content:
    """Bytes to upload, from a file or memory, with the hashes that name and check them."""
    size: int
    sha256: str
    md5: bytes
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of_bytes(cls, data):
        return cls(len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).digest(), data=data)

    @classmethod
    def of_file(cls, path):
        sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
        return cls(size, sha.hexdigest(), md5.digest(), path=Path(path))

    @property
    def md5_base64(self):
        return base64.b64encode(self.md5).decode()

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


@dataclass(frozen=True)
class LocalFile:
    relpath: str  # POSIX, relative to the scanned folder
    mode: int  # 0o755 or 0o644: only the executable bit survives, so versions do not depend on umask
    content: Content


class IgnoreRules:
    """gitignore-style subset: `name` or glob matches at any depth, a pattern with `/` inside is
    anchored at the folder, a trailing `/` matches directories only, `#` starts a comment."""

    def __init__(self):
        self.rules = []
        self.add(DEFAULT_IGNORES, "(built-in ignores)")

    def add(self, lines, source):
        for number, line in enumerate(lines, 1):
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            if pattern.startswith("!"):
                raise ValidationError(f"{source}: line {number}: '!' (re-include) patterns are not "
                                      "supported. Fix: remove the line and narrow the patterns instead")
            dir_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            self.rules.append((pattern.lstrip("/"), dir_only, "/" in pattern))

    @classmethod
    def for_folder(cls, root):
        rules = cls()
        source = root / IGNORE_FILE
        if source.is_file():
            try:
                rules.add(source.read_text(encoding="utf-8-sig").splitlines(), source)
            except (OSError, UnicodeDecodeError) as ex:
                raise FileOperationError(f"{source}: cannot be read ({ex}). Fix: save it as UTF-8 "
                                         "text, one pattern a line") from None
        return rules

    def ignored(self, relpath, is_dir):
        name = relpath.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(relpath if anchored else name, pattern)
                   for pattern, dir_only, anchored in self.rules if is_dir or not dir_only)


def _walk(root, rules):
    """Yield (relpath, path) of the files to ship; symlinks are followed only inside `root`."""
    root_real = Path(os.path.realpath(root))
    stack = [(root_real, "", (root_real,))]
    while stack:
        directory, prefix, ancestors = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                relpath = prefix + entry.name
                is_dir = entry.is_dir()  # follows symlinks
                if rules.ignored(relpath, is_dir):
                    continue
                real = Path(os.path.realpath(entry.path))
                if entry.is_symlink():
                    if not real.is_relative_to(root_real):
                        raise FileOperationError(
                            f"{root / relpath}: symlink points outside {root} (to {real}). Fix: copy "
                            f"the target into the folder or list the link in {root / IGNORE_FILE}")
                    if not real.exists():
                        raise FileOperationError(f"{root / relpath}: broken symlink (to {real}). Fix: "
                                                 f"remove it or list it in {root / IGNORE_FILE}")
                if is_dir:
                    if real in ancestors:
                        raise FileOperationError(f"{root / relpath}: symlink loop (points to its own "
                                                 "parent folder). Fix: remove the link")
                    stack.append((real, relpath + "/", (*ancestors, real)))
                elif entry.is_file():
                    yield relpath, real
                else:
                    logger.warning("%s: not a regular file (socket, device or pipe), skipped",
                                   root / relpath)


def check_folder(root):
    """What sync_folder refuses in a local folder (links leaving it, names Azure Files forbids),
    found without hashing, so a command can refuse it before its first request."""
    root = Path(root)
    _check_azure_names(root, dict(_walk(root, IgnoreRules.for_folder(root))))


def scan_tree(root, workers=DEFAULT_WORKERS):
    """{relpath: LocalFile} for the folder, ignores applied, hashed in parallel (hashlib frees the GIL)."""
    root = Path(root)
    if not root.is_dir():
        raise FileOperationError(f"{root}: not a folder. Fix: pass an existing folder")
    found = sorted(_walk(root, IgnoreRules.for_folder(root)))

    def load(item):
        relpath, path = item
        mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
        try:
            return LocalFile(relpath, mode, Content.of_file(path))
        except OSError as ex:
            raise FileOperationError(f"{root / relpath}: cannot be read ({ex.strerror}). Fix: check "
                                     "its permissions") from None

    with ThreadPoolExecutor(max(1, min(workers, os.cpu_count() or 1))) as pool:
        return {f.relpath: f for f in pool.map(load, found)}


# ---- share side ---------------------------------------------------------------------------
@contextmanager
def share_errors(what):
    """Turn SDK errors into one-line az errors naming what was being done and the fix."""
    try:
        yield
    except ClientAuthenticationError as ex:
        raise AzureResponseError(f"{what}: Azure Files refused the storage key "
                                 f"({ex.error_code or ex.reason}). Fix: check that the key was not "
                                 "rotated and the clock is right") from None
    except HttpResponseError as ex:
        raise AzureResponseError(f"{what}: Azure Files answered {ex.status_code} "
                                 f"{ex.error_code or ex.reason}. Fix: check that the share exists, then "
                                 "run the command again (it resumes)") from None
    except (ServiceRequestError, ServiceResponseError) as ex:
        reason = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise AzureConnectionError(f"{what}: cannot reach Azure Files ({reason}). Fix: check the "
                                   "network and run the command again (it resumes)") from None


class Progress:
    """Thread-safe total of uploaded bytes, reported as progress(done_bytes, total_bytes)."""

    def __init__(self, total, callback=None):
        self.total, self.done, self._callback = total, 0, callback
        self._lock = threading.Lock()

    def advance(self, count):
        with self._lock:
            self.done += count
            done = self.done
        if self._callback:
            self._callback(done, self.total)

    def hook(self):
        """An SDK progress_hook(current, total) for one file, turned into deltas."""
        last = 0

        def on_progress(current, _total):
            nonlocal last
            if current > last:
                self.advance(current - last)
                last = current
        return on_progress


def download_bytes(share, path):
    """The file's bytes, or None when it (or its folder) does not exist."""
    try:
        return share.get_file_client(path).download_file().readall()
    except ResourceNotFoundError:
        return None


def remote_md5(share, path):
    """The file's content MD5 (bytes) as set at upload, or None when it has none or is missing."""
    try:
        md5 = share.get_file_client(path).get_file_properties().content_settings.content_md5
    except ResourceNotFoundError:
        return None
    return bytes(md5) if md5 else None


def upload(share, path, content, progress=None, max_concurrency=1):
    """Create `path` with the content (large files in parallel ranges) and its content MD5 set."""
    with content.open() as stream:
        share.get_file_client(path).upload_file(
            stream, length=content.size, max_concurrency=max_concurrency,
            content_settings=ContentSettings(content_md5=bytearray(content.md5)),
            progress_hook=progress.hook() if progress else None)


def upload_atomic(share, path, content, progress=None, max_concurrency=1):
    """Upload beside `path`, then rename over it: readers see the old or the new file, whole."""
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    upload(share, tmp, content, progress, max_concurrency)
    try:
        share.get_file_client(tmp).rename_file(path, overwrite=True)
    except ResourceNotFoundError:
        # A retried rename whose first attempt did land finds no source: check the target is ours.
        if remote_md5(share, path) != content.md5:
            raise


def is_tmp_name(name):
    return bool(_TMP_NAME.match(name))


def parent_directories(path):
    """'a/b/c.txt' -> ['a', 'a/b']: the directories a share path needs."""
    parts = PurePosixPath(path).parts[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def ensure_directories(share, directories, existing=()):
    """Create each missing directory once, parents first; ones that exist already are fine."""
    for directory in sorted(set(directories) - set(existing), key=lambda d: (d.count("/"), d)):
        try:
            share.get_directory_client(directory).create_directory()
        except ResourceExistsError:
            pass


def run_parallel(function, items, workers):
    """function(item) for every item on a bounded pool; the first error is raised."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def upload_many(share, jobs, workers=DEFAULT_WORKERS, progress=None, atomic=False):
    """Upload [(remote_path, Content)]: files in parallel, each very large one alone in parallel ranges,
    so at most `workers` requests are in flight at once."""
    put = upload_atomic if atomic else upload
    alone = [job for job in jobs if job[1].size > workers * RANGE_BYTES]
    together = [job for job in jobs if job[1].size <= workers * RANGE_BYTES]
    run_parallel(lambda job: put(share, *job, progress), together, workers)
    for path, content in alone:
        put(share, path, content, progress, max_concurrency=workers)


def list_tree(share, directory):
    """({relpath: size} of the files under `directory`, {share paths of the directories there,
    itself included}); both empty when it does not exist."""
    files, directories, pending = {}, set(), [""]
    while pending:
        relative = pending.pop()
        path = f"{directory}/{relative}".rstrip("/")
        try:
            entries = list(share.list_directories_and_files(path))
        except ResourceNotFoundError:  # removed while we listed, or never there
            continue
        directories.add(path)
        for entry in entries:
            if entry.is_directory:
                pending.append(f"{relative}{entry.name}/")
            else:
                files[f"{relative}{entry.name}"] = entry.size
    return files, directories


def hash_remote(share, path):
    """sha256 of a share file, streamed."""
    digest = hashlib.sha256()
    for chunk in share.get_file_client(path).download_file().chunks():
        digest.update(chunk)
    return digest.hexdigest()


# ---- folder mirror ------------------------------------------------------------------------
def _check_azure_names(root, local):
    for relpath in local:
        if _AZURE_FORBIDDEN.search(relpath):
            raise FileOperationError(f"{Path(root) / relpath}: Azure Files does not allow the characters "
                                     '" \\ : | < > * ? in names. Fix: rename it or list it in '
                                     f"{Path(root) / IGNORE_FILE}")


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


def sync_folder(share, local_dir, remote_dir, progress=None, workers=DEFAULT_WORKERS,
                download_check=False):
    """Mirror `local_dir` into `remote_dir` on the share: upload what changed, delete what is gone.

    Returns {"uploaded", "skipped", "deleted", "bytes"}. The manifest is removed before the first
    change and written last, so an interrupted sync is re-checked file by file next time.
    `download_check` downloads every file again and compares hashes (the tests use it).
    """
    remote_dir = remote_dir.strip("/")
    local = scan_tree(local_dir, workers)
    _check_azure_names(local_dir, local)
    with share_errors(f"syncing {local_dir} to {share.share_name}/{remote_dir}"):
        remote, existing, manifest_valid = _remote_state(share, remote_dir, workers)
        changed = [f for rel, f in local.items() if not _unchanged(f, remote.get(rel))]
        gone = sorted(set(remote) - set(local))
        if changed or gone or not manifest_valid:
            _apply(share, remote_dir, local, changed, gone, existing, progress, workers)
        if download_check:
            _verify(share, remote_dir, local, workers)
    return {"uploaded": len(changed), "skipped": len(local) - len(changed), "deleted": len(gone),
            "bytes": sum(f.content.size for f in changed)}


def _apply(share, remote_dir, local, changed, gone, existing, progress, workers):
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


def delete_if_exists(share, path):
    try:
        share.get_file_client(path).delete_file()
    except ResourceNotFoundError:
        pass


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
