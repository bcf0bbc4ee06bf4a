"""Talking to an Azure Files share: uploads (whole files or in parallel ranges, atomic by
rename), downloads, listings, deletes, and SDK errors turned into one-line az errors.

Imported only inside command functions: it pulls in the storage SDK.
"""
import hashlib
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import PurePosixPath

from azure.cli.core.azclierror import AzureConnectionError, AzureResponseError
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.fileshare import ContentSettings

from .local_tree import DEFAULT_WORKERS

RANGE_BYTES = 4 * 1024 * 1024  # Azure Files' largest Put Range
_TMP_NAME = re.compile(r"^.+\.[0-9a-f]{8}\.tmp$")


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


# One method is its whole interface: the state the per-file hooks share.
class Progress:  # pylint: disable=too-few-public-methods
    """Uploaded bytes of several files, reported as callback(done, total) with done never going
    back and never above total.

    The SDK calls a file's progress hook from each of its range-upload threads, with the file's
    running total read outside its own lock: two threads can report the same total, or an older
    one after a newer. So each file's position only moves forward, and one lock covers the
    positions, the sum and the report, so reports leave in the order the sum grew.
    """

    def __init__(self, total, callback=None):
        self.total, self.done, self._callback = total, 0, callback
        self._lock = threading.Lock()

    def hook(self, size):
        """An SDK progress_hook(current, total) for one file of `size` bytes."""
        position = [0]

        def on_progress(current, _total):
            with self._lock:
                current = min(current, size)
                if current <= position[0]:
                    return
                self.done = min(self.done + current - position[0], self.total)
                position[0] = current
                if self._callback:
                    self._callback(self.done, self.total)
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
            progress_hook=progress.hook(content.size) if progress else None)


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


def delete_if_exists(share, path):
    try:
        share.get_file_client(path).delete_file()
    except ResourceNotFoundError:
        pass
