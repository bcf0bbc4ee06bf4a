"""Azure Files state and behaviour, on disk, without HTTP.

Layout under the root (one folder per storage account):
    <account>/shares/<share>/...         the share's files as plain files (share_path)
    <account>/props/<share>/:share.json  share properties (quota, metadata)
    <account>/props/<share>/<path>/:entry.json   a file's or directory's properties
    <account>/staging/                   new files are built here, then renamed into place
Sidecar names start with ':', which Azure forbids in file names, so they never clash with
a real entry. Sizes and times come from the data files themselves, so a container process
writing into the share folder directly is seen as it is.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import exceptions as err

DEFAULT_QUOTA_GB = 5120
MAX_RANGE_BYTES = 4 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024

_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_SHARE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_FORBIDDEN_IN_NAMES = re.compile(r'["\\:|<>*?\x00-\x1f]')
_SHARE_PROPS = ":share.json"
_ENTRY_PROPS = ":entry.json"


@dataclass
class ContentSettings:
    """HTTP content properties of a file; content_md5 is kept exactly as the client gave it."""

    content_type: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_md5: str | None = None


@dataclass(frozen=True)
class Entry:
    """A file or directory as Get Properties and List report it."""

    name: str
    is_directory: bool
    size: int
    file_id: str
    parent_id: str
    etag: str
    last_modified: datetime.datetime
    creation_time: datetime.datetime
    change_time: datetime.datetime
    content: ContentSettings = field(default_factory=ContentSettings)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShareLease:
    """A share's lease as Get Share Properties reports it, at one moment.

    state: available | leased | expired | breaking | broken; a fixed lease past its expiry is
    'expired' and a breaking one past its break time 'broken', computed when asked."""

    state: str = "available"
    lease_id: str | None = None
    infinite: bool = False
    seconds_left: int = 0  # until a fixed lease expires, or a breaking one breaks

    @property
    def active(self) -> bool:
        """Locks the share: a lease is held (leased) or still running out (breaking)."""
        return self.state in ("leased", "breaking")


@dataclass(frozen=True)
class LeaseRequest:
    """The lease headers of a Lease Share request (ids lower-case)."""

    lease_id: str | None = None
    proposed_id: str | None = None
    duration: int | None = None  # acquire: -1 (infinite) or 15-60 seconds
    break_period: int | None = None  # break: 0-60 seconds


@dataclass(frozen=True)
class ShareInfo:
    name: str
    quota_gb: int
    etag: str
    last_modified: datetime.datetime
    metadata: dict[str, str]
    lease: ShareLease = field(default_factory=ShareLease)


def _utc(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC)


def _etag(ns: int) -> str:
    return f'"0x{ns:X}"'


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _write_json(path: Path, data: dict) -> None:
    """Write atomically: readers see the old or the new document, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def validate_path(path: str) -> tuple[str, ...]:
    """Split a share-relative path into its names, refusing names Azure Files refuses."""
    parts = tuple(p for p in path.strip("/").split("/")) if path.strip("/") else ()
    for part in parts:
        if part in ("", ".", "..") or len(part) > 255 or _FORBIDDEN_IN_NAMES.search(part):
            raise err.InvalidResourceName(
                f"The name '{part}' in path '{path}' is not a valid Azure Files name "
                '(empty, ".", "..", longer than 255 or containing one of " \\ : | < > * ?).'
            )
    return parts


class FileStore:
    """All shares of all accounts; data and properties on disk, so they survive restarts.

    Safe for concurrent use from threads: namespace changes and property writes hold one
    lock; range writes do not (each writes its own byte range of an existing file).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.clock = time.time  # wall-clock seconds: lease expiry survives a restart of the cloud

    # ---- locations -------------------------------------------------------------------
    def _account_dir(self, account: str) -> Path:
        if not _ACCOUNT_NAME.match(account):
            raise err.InvalidResourceName(f"'{account}' is not a valid storage account name (3-24 a-z, 0-9).")
        return self.root / account

    def share_path(self, account: str, share: str) -> Path:
        if not _SHARE_NAME.match(share):
            raise err.InvalidResourceName(
                f"'{share}' is not a valid share name (3-63 of a-z, 0-9 and single inner hyphens)."
            )
        return self._account_dir(account) / "shares" / share

    def _props_dir(self, account: str, share: str, parts: tuple[str, ...] = ()) -> Path:
        return self._account_dir(account).joinpath("props", share, *parts)

    def _existing_share(self, account: str, share: str) -> Path:
        root = self.share_path(account, share)
        if not root.is_dir():
            raise err.ShareNotFound(f"The share '{share}' does not exist in account '{account}'.")
        return root

    def _locate(self, account: str, share: str, path: str) -> tuple[Path, tuple[str, ...]]:
        parts = validate_path(path)
        return self._existing_share(account, share).joinpath(*parts), parts

    def _missing(self, data: Path, path: str) -> err.FilesError:
        """The right 404: ParentNotFound when the parent directory is missing too."""
        if data.parent.is_dir():
            return err.ResourceNotFound(f"The file or directory '{path}' does not exist.")
        return err.ParentNotFound(f"The parent directory of '{path}' does not exist.")

    def _require_parent(self, data: Path, path: str) -> None:
        if not data.parent.is_dir():
            raise err.ParentNotFound(f"The parent directory of '{path}' does not exist.")

    def _stat(self, data: Path, path: str, want_directory: bool | None) -> os.stat_result:
        try:
            st = data.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(data, path) from None
        if want_directory is not None and stat.S_ISDIR(st.st_mode) != want_directory:
            raise err.ResourceNotFound(
                f"'{path}' is a {'directory' if stat.S_ISDIR(st.st_mode) else 'file'}, "
                f"not a {'directory' if want_directory else 'file'}."
            )
        return st

    # ---- shares ----------------------------------------------------------------------
    def create_share(
        self,
        account: str,
        share: str,
        quota_gb: int | None = None,
        metadata: dict[str, str] | None = None,
        exist_ok: bool = False,
    ) -> None:
        """exist_ok=True makes it create-or-update (ARM PUT): an existing share keeps its files."""
        root = self.share_path(account, share)
        with self._lock:
            props_file = self._props_dir(account, share) / _SHARE_PROPS
            if root.is_dir():
                if not exist_ok:
                    raise err.ShareAlreadyExists(f"The share '{share}' already exists.")
                props = _read_json(props_file)
            else:
                root.mkdir(parents=True)
                props = {"created_ns": _mtime_ns(root)}
            if quota_gb is not None:
                props["quota_gb"] = quota_gb
            if metadata is not None:
                props["metadata"] = metadata
            _write_json(props_file, props)

    def delete_share(self, account: str, share: str, lease_id: str | None = None) -> None:
        with self._lock:
            root = self._existing_share(account, share)
            self.check_share_lease(account, share, lease_id)
            shutil.rmtree(root)
            shutil.rmtree(self._props_dir(account, share), ignore_errors=True)

    def list_shares(self, account: str) -> list[str]:
        shares = self._account_dir(account) / "shares"
        return sorted(p.name for p in shares.iterdir() if p.is_dir()) if shares.is_dir() else []

    def share_info(self, account: str, share: str) -> ShareInfo:
        self._existing_share(account, share)
        props_file = self._props_dir(account, share) / _SHARE_PROPS
        props = _read_json(props_file)
        ns = _mtime_ns(props_file)
        return ShareInfo(
            share,
            props.get("quota_gb", DEFAULT_QUOTA_GB),
            _etag(ns),
            _utc(ns),
            props.get("metadata", {}),
            self._lease_now(props.get("lease")),
        )

    def set_share_properties(
        self,
        account: str,
        share: str,
        quota_gb: int | None = None,
        metadata: dict[str, str] | None = None,
        lease_id: str | None = None,
    ) -> None:
        with self._lock:
            self._existing_share(account, share)
            self.check_share_lease(account, share, lease_id)
            self.create_share(account, share, quota_gb, metadata, exist_ok=True)

    # ---- share leases (Lease Share; see localcloud/README.md, "Share leases") ----------
    def _lease_now(self, stored: dict | None) -> ShareLease:
        if not stored:
            return ShareLease()
        now, state = self.clock(), stored["state"]
        if state == "leased" and stored.get("expires") is not None:
            if now >= stored["expires"]:
                return ShareLease("expired", stored["id"])
            return ShareLease("leased", stored["id"], seconds_left=math.ceil(stored["expires"] - now))
        if state == "breaking":
            if now >= stored["break_at"]:
                return ShareLease("broken", stored["id"])
            return ShareLease("breaking", stored["id"], seconds_left=math.ceil(stored["break_at"] - now))
        return ShareLease(state, stored.get("id"), infinite=state == "leased")

    def check_share_lease(self, account: str, share: str, lease_id: str | None) -> None:
        """What a share lease blocks: Delete Share and Set Share Properties/Metadata need the active
        lease's id (Lease Share: "a lock on a share for set and delete share operations")."""
        lease = self.share_info(account, share).lease
        if lease.active and lease_id is None:
            raise err.LeaseIdMissing()
        if lease_id is not None and not lease.active:
            raise err.LeaseNotPresentWithContainerOperation()
        if lease_id is not None and lease_id.lower() != lease.lease_id:
            raise err.LeaseIdMismatchWithContainerOperation()

    def lease_share(self, account: str, share: str, action: str, request: LeaseRequest) -> ShareLease:
        """One Lease Share action (acquire, renew, change, release, break); returns the lease after it.
        The outcome in each state follows the Lease Share reference and Azurite's lease states
        (Azure/Azurite src/blob/lease/Lease*State.ts: the same table, written for containers)."""
        with self._lock:
            self._existing_share(account, share)
            props_file = self._props_dir(account, share) / _SHARE_PROPS
            props = _read_json(props_file)
            stored = props.get("lease") or {}
            changed = getattr(self, f"_lease_{action}")(stored, self._lease_now(stored), request)
            if changed is not None:
                props["lease"] = changed
                _write_json(props_file, props)
            return self._lease_now(props.get("lease"))

    def _leased(self, lease_id: str, duration: int) -> dict:
        expires = None if duration == -1 else self.clock() + duration
        return {"state": "leased", "id": lease_id, "duration": duration, "expires": expires}

    def _lease_acquire(self, stored: dict, lease: ShareLease, request: LeaseRequest) -> dict:
        new_id = request.proposed_id or str(uuid.uuid4())
        if lease.state == "leased" and new_id != lease.lease_id:
            raise err.LeaseAlreadyPresent()
        if lease.state == "breaking":
            raise err.LeaseIsBreakingAndCannotBeAcquired() if new_id == lease.lease_id else err.LeaseAlreadyPresent()
        return self._leased(new_id, request.duration)

    def _lease_renew(self, stored: dict, lease: ShareLease, request: LeaseRequest) -> dict | None:
        if lease.state == "available" or request.lease_id != lease.lease_id:
            raise err.LeaseIdMismatchWithLeaseOperation()
        if lease.state in ("breaking", "broken"):
            raise err.LeaseIsBrokenAndCannotBeRenewed()
        # An expired lease may be renewed as long as nobody has leased the share since (Lease Share).
        return None if lease.infinite else self._leased(lease.lease_id, stored["duration"])

    def _lease_change(self, stored: dict, lease: ShareLease, request: LeaseRequest) -> dict:
        if lease.state in ("available", "expired", "broken"):
            raise err.LeaseNotPresentWithLeaseOperation()
        if lease.state == "breaking":
            if request.lease_id == lease.lease_id:
                raise err.LeaseIsBreakingAndCannotBeChanged()
            raise err.LeaseIdMismatchWithLeaseOperation()
        if lease.lease_id not in (request.lease_id, request.proposed_id):
            raise err.LeaseIdMismatchWithLeaseOperation()
        return {**stored, "id": request.proposed_id}

    def _lease_release(self, stored: dict, lease: ShareLease, request: LeaseRequest) -> dict:
        if lease.state == "available" or request.lease_id != lease.lease_id:
            raise err.LeaseIdMismatchWithLeaseOperation()
        return {}

    def _lease_break(self, stored: dict, lease: ShareLease, request: LeaseRequest) -> dict | None:
        now, period = self.clock(), request.break_period
        if lease.state == "available":
            raise err.LeaseNotPresentWithLeaseOperation()
        if lease.state in ("expired", "broken"):
            return {"state": "breaking", "id": lease.lease_id, "break_at": now}
        if lease.state == "breaking":
            return None if period is None else {**stored, "break_at": min(stored["break_at"], now + period)}
        # Without a period a fixed lease runs out its time and an infinite one breaks at once; a
        # period shorter than the time left shortens it (Lease Share, x-ms-lease-break-period).
        ends = now if lease.infinite else stored["expires"]
        if period is not None:
            ends = now + period if lease.infinite else min(ends, now + period)
        return {"state": "breaking", "id": lease.lease_id, "break_at": ends}

    # ---- entries ---------------------------------------------------------------------
    def _entry(
        self, account: str, share: str, data: Path, parts: tuple[str, ...], st: os.stat_result
    ) -> Entry:
        props_file = self._props_dir(account, share, parts) / _ENTRY_PROPS
        props = _read_json(props_file)
        ns = max(st.st_mtime_ns, _mtime_ns(props_file))
        is_dir = stat.S_ISDIR(st.st_mode)
        return Entry(
            name=parts[-1] if parts else "",
            is_directory=is_dir,
            size=0 if is_dir else st.st_size,
            file_id=str(st.st_ino),
            parent_id=str(data.parent.stat().st_ino) if parts else "0",
            etag=_etag(ns),
            last_modified=_utc(ns),
            creation_time=_utc(props.get("created_ns", st.st_mtime_ns)),
            change_time=_utc(ns),
            content=ContentSettings(**props.get("content", {})),
            metadata=props.get("metadata", {}),
        )

    def get_entry(self, account: str, share: str, path: str, directory: bool | None = None) -> Entry:
        """Properties of a file (directory=False), a directory (True) or either (None)."""
        data, parts = self._locate(account, share, path)
        return self._entry(account, share, data, parts, self._stat(data, path, directory))

    def _write_props(self, account: str, share: str, parts: tuple[str, ...], **changes) -> None:
        with self._lock:
            props_file = self._props_dir(account, share, parts) / _ENTRY_PROPS
            _write_json(props_file, {**_read_json(props_file), **changes})

    def _fresh_props(
        self, account: str, share: str, parts: tuple[str, ...], st: os.stat_result, **props
    ) -> None:
        """Replace whatever properties a former entry of that name left behind."""
        props_dir = self._props_dir(account, share, parts)
        shutil.rmtree(props_dir, ignore_errors=True)
        _write_json(props_dir / _ENTRY_PROPS, {"created_ns": st.st_mtime_ns, **props})

    def create_directory(
        self, account: str, share: str, path: str, metadata: dict[str, str] | None = None
    ) -> Entry:
        data, parts = self._locate(account, share, path)
        if not parts:
            raise err.ResourceAlreadyExists("The share's root directory always exists.")
        with self._lock:
            self._require_parent(data, path)
            try:
                data.mkdir()
            except FileExistsError:
                raise err.ResourceAlreadyExists(f"'{path}' already exists.") from None
            self._fresh_props(account, share, parts, data.stat(), metadata=metadata or {})
        return self.get_entry(account, share, path, directory=True)

    def delete_directory(self, account: str, share: str, path: str) -> None:
        data, parts = self._locate(account, share, path)
        with self._lock:
            self._stat(data, path, want_directory=True)
            if not parts:
                raise err.UnsupportedOperation("The share's root directory cannot be deleted.")
            try:
                data.rmdir()
            except OSError:
                raise err.DirectoryNotEmpty(f"The directory '{path}' is not empty.") from None
            shutil.rmtree(self._props_dir(account, share, parts), ignore_errors=True)

    def list_directory(self, account: str, share: str, path: str, prefix: str = "") -> list[Entry]:
        """The directory's entries sorted by name."""
        data, parts = self._locate(account, share, path)
        self._stat(data, path, want_directory=True)
        entries = []
        with os.scandir(data) as found:
            for item in found:
                if item.name.startswith(prefix):
                    try:
                        st = item.stat()
                    except FileNotFoundError:  # deleted while we listed
                        continue
                    entries.append(self._entry(account, share, Path(item.path), (*parts, item.name), st))
        return sorted(entries, key=lambda e: e.name)

    def set_metadata(
        self, account: str, share: str, path: str, metadata: dict[str, str], directory: bool
    ) -> Entry:
        data, parts = self._locate(account, share, path)
        self._stat(data, path, directory)
        self._write_props(account, share, parts, metadata=metadata)
        return self.get_entry(account, share, path, directory)

    # ---- files -----------------------------------------------------------------------
    def create_file(
        self,
        account: str,
        share: str,
        path: str,
        size: int,
        content: ContentSettings | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Entry:
        """A new file of `size` zero bytes (sparse), replacing any file of that name atomically."""
        data, parts = self._locate(account, share, path)
        if not parts:
            raise err.ResourceTypeMismatch("The share's root is a directory.")
        staging = self._account_dir(account) / "staging"
        staging.mkdir(exist_ok=True)
        tmp = staging / uuid.uuid4().hex
        with open(tmp, "wb") as fresh:
            fresh.truncate(size)
        with self._lock:
            try:
                self._require_parent(data, path)
                if data.is_dir():
                    raise err.ResourceTypeMismatch(f"'{path}' is a directory.")
                os.replace(tmp, data)
            finally:
                tmp.unlink(missing_ok=True)
            self._fresh_props(
                account,
                share,
                parts,
                data.stat(),
                content=asdict(content or ContentSettings()),
                metadata=metadata or {},
            )
        return self.get_entry(account, share, path, directory=False)

    def _open_file(self, account: str, share: str, path: str, mode: str):
        data, _ = self._locate(account, share, path)
        self._stat(data, path, want_directory=False)
        try:
            return open(data, mode)
        except FileNotFoundError:  # deleted between the check and the open
            raise self._missing(data, path) from None

    def write_range(
        self, account: str, share: str, path: str, offset: int, body: bytes, content_md5: str | None = None
    ) -> str:
        """Write `body` at `offset` inside the file; returns the body's MD5 (base64)."""
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        if content_md5 is not None and content_md5 != md5:
            raise err.Md5Mismatch()
        self._write_at(account, share, path, offset, len(body), lambda fd: os.pwrite(fd, body, offset))
        return md5

    def clear_range(self, account: str, share: str, path: str, offset: int, length: int) -> None:
        """Zero a range (Azure frees it; reads then return zeros)."""

        def zero(fd: int) -> None:
            for start in range(offset, offset + length, READ_CHUNK_BYTES):
                os.pwrite(fd, bytes(min(READ_CHUNK_BYTES, offset + length - start)), start)

        self._write_at(account, share, path, offset, length, zero)

    def _write_at(self, account: str, share: str, path: str, offset: int, length: int, write) -> None:
        with self._open_file(account, share, path, "r+b") as file:
            size = os.fstat(file.fileno()).st_size
            if offset + length > size:
                raise err.InvalidRange(
                    f"The range {offset}-{offset + length - 1} goes past the end of '{path}' ({size} bytes); "
                    "set the file size at Create File or Set File Properties first."
                )
            write(file.fileno())

    def read_range(
        self, account: str, share: str, path: str, start: int, end: int, chunk_bytes: int = READ_CHUNK_BYTES
    ) -> Iterator[bytes]:
        """Bytes start..end (inclusive) in chunks; the file is opened before the first chunk."""
        file = self._open_file(account, share, path, "rb")

        def chunks() -> Iterator[bytes]:
            with file:
                position = start
                while position <= end:
                    chunk = os.pread(file.fileno(), min(chunk_bytes, end + 1 - position), position)
                    if not chunk:  # truncated under us
                        return
                    position += len(chunk)
                    yield chunk

        return chunks()

    def data_ranges(self, account: str, share: str, path: str) -> list[tuple[int, int]]:
        """The written (non-hole) ranges of the file, inclusive, as List Ranges reports them."""
        with self._open_file(account, share, path, "rb") as file:
            fd, size, ranges, position = file.fileno(), os.fstat(file.fileno()).st_size, [], 0
            while position < size:
                try:
                    start = os.lseek(fd, position, os.SEEK_DATA)
                except OSError:  # no data after position
                    break
                position = min(os.lseek(fd, start, os.SEEK_HOLE), size)
                ranges.append((start, position - 1))
            return ranges

    def set_file_properties(
        self, account: str, share: str, path: str, content: ContentSettings, size: int | None = None
    ) -> Entry:
        """Replace the content settings (absent ones are cleared, as Azure does); resize if asked."""
        data, parts = self._locate(account, share, path)
        self._stat(data, path, want_directory=False)
        if size is not None:
            os.truncate(data, size)
        self._write_props(account, share, parts, content=asdict(content))
        return self.get_entry(account, share, path, directory=False)

    def delete_file(self, account: str, share: str, path: str) -> None:
        data, parts = self._locate(account, share, path)
        with self._lock:
            self._stat(data, path, want_directory=False)
            data.unlink()
            shutil.rmtree(self._props_dir(account, share, parts), ignore_errors=True)

    def rename(
        self,
        account: str,
        share: str,
        source: str,
        destination: str,
        replace_if_exists: bool,
        directory: bool,
    ) -> Entry:
        """Move a file or directory within a share; a replaced target file is swapped atomically."""
        src, src_parts = self._locate(account, share, source)
        dst, dst_parts = self._locate(account, share, destination)
        if not src_parts or not dst_parts:
            raise err.InvalidResourceName("The share's root directory cannot be renamed or replaced.")
        with self._lock:
            self._stat(src, source, want_directory=directory)
            self._require_parent(dst, destination)
            if src == dst:
                return self.get_entry(account, share, destination, directory)
            if dst.exists():
                if not replace_if_exists:
                    raise err.ResourceAlreadyExists(
                        f"'{destination}' already exists; "
                        "set x-ms-file-rename-replace-if-exists: true to replace it."
                    )
                if dst.is_dir():
                    raise err.ResourceTypeMismatch(f"'{destination}' is a directory and cannot be replaced.")
            os.replace(src, dst)
            src_props = self._props_dir(account, share, src_parts)
            dst_props = self._props_dir(account, share, dst_parts)
            shutil.rmtree(dst_props, ignore_errors=True)
            if src_props.exists():
                dst_props.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src_props, dst_props)
        return self.get_entry(account, share, destination, directory)
