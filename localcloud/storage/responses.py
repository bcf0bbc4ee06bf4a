"""Azure Files REST (path-style /<account>/<share>/<path>) <-> FileStore, in the service's wire format."""

from __future__ import annotations

import asyncio
import base64
import datetime
import email.utils
import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from aiohttp import web
from multidict import MultiDictProxy

from . import exceptions as err
from .access import Authorize
from .models import MAX_RANGE_BYTES, ContentSettings, Entry, FileStore, LeaseRequest, ShareLease

DEFAULT_VERSION = "2025-11-05"
MAX_FILE_BYTES = 4 * 1024**4
_PERMISSION_KEY = "4066528134148476695*1"  # one fixed security descriptor for everything
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
_LEASE_ACTIONS = ("acquire", "renew", "change", "release", "break")
_CONTENT_HEADERS = {  # request header -> ContentSettings field (Create File, Set File Properties)
    "x-ms-content-type": "content_type",
    "x-ms-content-encoding": "content_encoding",
    "x-ms-content-language": "content_language",
    "x-ms-cache-control": "cache_control",
    "x-ms-content-disposition": "content_disposition",
    "x-ms-content-md5": "content_md5",
}
_RESPONSE_CONTENT_HEADERS = {  # ContentSettings field -> response header (Get File, Get File Properties)
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
}


# ---- wire formats of values --------------------------------------------------------------
def _rfc1123(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


def _iso7(moment: datetime.datetime) -> str:
    """Azure Files' SMB timestamps: ISO 8601 with 7 fractional digits."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


@dataclass
class _Call:
    """One request, parsed into account, share and share-relative path."""

    request: web.Request
    store: FileStore
    account: str
    share: str
    path: str
    request_id: str

    @property
    def headers(self):
        return self.request.headers

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.request.rel_url.query

    def respond(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> web.Response:
        response = web.Response(
            status=status, body=body, headers=_base_headers(self.request, self.request_id)
        )
        response.headers.update(headers or {})
        if content_type:
            response.content_type = content_type
        return response

    def metadata(self) -> dict[str, str]:
        return {
            k[len("x-ms-meta-") :]: v for k, v in self.headers.items() if k.lower().startswith("x-ms-meta-")
        }

    def int_header(self, name: str, minimum: int = 0, maximum: int | None = None) -> int | None:
        raw = self.headers.get(name)
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
            raise err.InvalidHeaderValue(
                f"The header {name}: '{raw}' must be an integer in "
                f"[{minimum}, {maximum if maximum is not None else 'inf'}]."
            )
        return int(raw)

    def byte_range(self) -> tuple[int, int | None] | None:
        """x-ms-range (or Range) as (start, end or None), or None when absent."""
        raw = self.headers.get("x-ms-range") or self.headers.get("Range")
        if raw is None:
            return None
        found = _RANGE.match(raw.strip())
        if not found or (found[2] and int(found[2]) < int(found[1])):
            raise err.InvalidHeaderValue(
                f"The range '{raw}' must look like 'bytes=<start>-<end>' with start <= end."
            )
        return int(found[1]), int(found[2]) if found[2] else None


def _base_headers(request: web.Request, request_id: str) -> dict[str, str]:
    headers = {
        "x-ms-request-id": request_id,
        "x-ms-version": request.headers.get("x-ms-version", DEFAULT_VERSION),
        "Server": "Windows-Azure-File/1.0 Microsoft-HTTPAPI/2.0",
    }
    if "x-ms-client-request-id" in request.headers:
        headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
    return headers


def _error_response(request: web.Request, request_id: str, error: err.FilesError) -> web.Response:
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = error.code
    now = datetime.datetime.now(datetime.UTC)
    ET.SubElement(root, "Message").text = f"{error.message}\nRequestId:{request_id}\nTime:{_iso7(now)}"
    if error.detail:
        ET.SubElement(root, "AuthenticationErrorDetail").text = error.detail
    headers = {**_base_headers(request, request_id), "x-ms-error-code": error.code}
    return web.Response(
        status=error.status,
        body=ET.tostring(root, encoding="utf-8", xml_declaration=True),
        headers=headers,
        content_type="application/xml",
    )


# ---- headers of entries ------------------------------------------------------------------
def _smb_headers(entry: Entry) -> dict[str, str]:
    return {
        "ETag": entry.etag,
        "Last-Modified": _rfc1123(entry.last_modified),
        "x-ms-file-attributes": "Directory" if entry.is_directory else "Archive",
        "x-ms-file-creation-time": _iso7(entry.creation_time),
        "x-ms-file-last-write-time": _iso7(entry.last_modified),
        "x-ms-file-change-time": _iso7(entry.change_time),
        "x-ms-file-permission-key": _PERMISSION_KEY,
        "x-ms-file-id": entry.file_id,
        "x-ms-file-parent-id": entry.parent_id,
    }


def _written_headers(entry: Entry) -> dict[str, str]:
    return {**_smb_headers(entry), "x-ms-request-server-encrypted": "true"}


def _property_headers(entry: Entry) -> dict[str, str]:
    headers = {
        **_smb_headers(entry),
        "x-ms-server-encrypted": "true",
        **{f"x-ms-meta-{k}": v for k, v in entry.metadata.items()},
    }
    if not entry.is_directory:
        content = entry.content
        headers.update(
            {
                "x-ms-type": "File",
                "Content-Length": str(entry.size),
                "Content-Type": content.content_type or "application/octet-stream",
                "x-ms-lease-state": "available",
                "x-ms-lease-status": "unlocked",
            }
        )
        headers.update(
            {
                name: getattr(content, field)
                for field, name in _RESPONSE_CONTENT_HEADERS.items()
                if getattr(content, field)
            }
        )
    return headers


def _content_settings(call: _Call) -> ContentSettings:
    return ContentSettings(**{field: call.headers.get(name) for name, field in _CONTENT_HEADERS.items()})


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _page(names: list[str], call: _Call) -> tuple[int, int, str]:
    """Slice bounds for marker/maxresults paging, and the next marker ('' when done)."""
    marker = call.query.get("marker", "")
    max_results = (
        int(call.query.get("maxresults", "5000")) if call.query.get("maxresults", "").isdigit() else 5000
    )
    start = next((i for i, name in enumerate(names) if name >= marker), len(names)) if marker else 0
    end = min(start + max(max_results, 1), len(names))
    return start, end, names[end] if end < len(names) else ""


# ---- account level -----------------------------------------------------------------------
async def list_shares(call: _Call) -> web.Response:
    prefix = call.query.get("prefix", "")
    names = [n for n in call.store.list_shares(call.account) if n.startswith(prefix)]
    start, end, next_marker = _page(names, call)
    root = ET.Element("EnumerationResults", ServiceEndpoint=f"{call.request.url.origin()}/{call.account}/")
    for tag in ("Prefix", "Marker", "MaxResults"):
        if tag.lower() in call.query:
            ET.SubElement(root, tag).text = call.query[tag.lower()]
    shares = ET.SubElement(root, "Shares")
    with_metadata = "metadata" in call.query.get("include", "").lower()
    for name in names[start:end]:
        info = call.store.share_info(call.account, name)
        item = ET.SubElement(shares, "Share")
        ET.SubElement(item, "Name").text = name
        props = ET.SubElement(item, "Properties")
        ET.SubElement(props, "Last-Modified").text = _rfc1123(info.last_modified)
        ET.SubElement(props, "Etag").text = info.etag
        ET.SubElement(props, "Quota").text = str(info.quota_gb)
        if with_metadata:
            meta = ET.SubElement(item, "Metadata")
            for key, value in info.metadata.items():
                ET.SubElement(meta, key).text = value
    ET.SubElement(root, "NextMarker").text = next_marker
    return call.respond(200, body=_xml(root), content_type="application/xml")


# ---- shares ------------------------------------------------------------------------------
def _share_headers(call: _Call) -> dict[str, str]:
    info = call.store.share_info(call.account, call.share)
    return {"ETag": info.etag, "Last-Modified": _rfc1123(info.last_modified)}


async def create_share(call: _Call) -> web.Response:
    call.store.create_share(
        call.account, call.share, call.int_header("x-ms-share-quota", 1, 102400), call.metadata()
    )
    return call.respond(201, _share_headers(call))


async def delete_share(call: _Call) -> web.Response:
    call.store.delete_share(call.account, call.share, _lease_id(call, "x-ms-lease-id"))
    return call.respond(202)


def _lease_headers(lease: ShareLease) -> dict[str, str]:
    headers = {
        "x-ms-lease-state": lease.state,
        "x-ms-lease-status": "locked" if lease.active else "unlocked",
    }
    if lease.state == "leased":
        headers["x-ms-lease-duration"] = "infinite" if lease.infinite else "fixed"
    return headers


async def get_share_properties(call: _Call) -> web.Response:
    info = call.store.share_info(call.account, call.share)
    given = _lease_id(call, "x-ms-lease-id")
    if given is not None:  # optional here: when sent, it must be the active lease's
        call.store.check_share_lease(call.account, call.share, given)
    return call.respond(
        200,
        {
            **_share_headers(call),
            "x-ms-share-quota": str(info.quota_gb),
            **_lease_headers(info.lease),
            **{f"x-ms-meta-{k}": v for k, v in info.metadata.items()},
        },
    )


async def set_share_metadata(call: _Call) -> web.Response:
    call.store.set_share_properties(
        call.account, call.share, metadata=call.metadata(), lease_id=_lease_id(call, "x-ms-lease-id")
    )
    return call.respond(200, _share_headers(call))


async def set_share_properties(call: _Call) -> web.Response:
    call.store.set_share_properties(
        call.account,
        call.share,
        call.int_header("x-ms-share-quota", 1, 102400),
        lease_id=_lease_id(call, "x-ms-lease-id"),
    )
    return call.respond(200, _share_headers(call))


def _lease_id(call: _Call, name: str) -> str | None:
    """A lease id header: any GUID format, compared lower-case; absent -> None."""
    raw = call.headers.get(name)
    if raw is None:
        return None
    if not _GUID.match(raw.strip()):
        raise err.InvalidHeaderValue(f"The header {name}: '{raw}' is not a GUID.")
    return str(uuid.UUID(raw.strip()))


def _lease_request(call: _Call, action: str) -> LeaseRequest:
    """The headers Lease Share needs for `action`, checked as the reference lists them."""
    needs = {"acquire": ("x-ms-lease-duration",), "renew": ("x-ms-lease-id",), "release": ("x-ms-lease-id",),
             "change": ("x-ms-lease-id", "x-ms-proposed-lease-id"), "break": ()}[action]
    for name in needs:
        if name not in call.headers:
            raise err.MissingRequiredHeader(f"Lease Share with x-ms-lease-action: {action} needs the header {name}.")
    duration = None
    if action == "acquire":
        raw = call.headers["x-ms-lease-duration"].strip()
        if raw != "-1" and not (raw.isdigit() and 15 <= int(raw) <= 60):
            raise err.InvalidHeaderValue(
                f"x-ms-lease-duration: '{raw}' must be -1 (infinite) or 15 to 60 seconds."
            )
        duration = int(raw)
    return LeaseRequest(
        lease_id=_lease_id(call, "x-ms-lease-id"),
        proposed_id=_lease_id(call, "x-ms-proposed-lease-id"),
        duration=duration,
        break_period=call.int_header("x-ms-lease-break-period", 0, 60) if action == "break" else None,
    )


async def lease_share(call: _Call) -> web.Response:
    """Lease Share: acquire 201, renew/change/release 200, break 202 with x-ms-lease-time (the REST
    spec's responses of Share_AcquireLease ... Share_BreakLease)."""
    action = (call.headers.get("x-ms-lease-action") or "").lower()
    if action not in _LEASE_ACTIONS:
        raise err.InvalidHeaderValue(
            f"x-ms-lease-action: '{call.headers.get('x-ms-lease-action')}' must be one of {', '.join(_LEASE_ACTIONS)}."
        )
    lease = call.store.lease_share(call.account, call.share, action, _lease_request(call, action))
    headers = _share_headers(call)
    if action == "break":
        return call.respond(202, {**headers, "x-ms-lease-time": str(lease.seconds_left)})
    if action != "release":
        headers["x-ms-lease-id"] = lease.lease_id
    return call.respond(201 if action == "acquire" else 200, headers)


# ---- directories -------------------------------------------------------------------------
async def create_directory(call: _Call) -> web.Response:
    entry = call.store.create_directory(call.account, call.share, call.path, call.metadata())
    return call.respond(201, _written_headers(entry))


async def delete_directory(call: _Call) -> web.Response:
    call.store.delete_directory(call.account, call.share, call.path)
    return call.respond(202)


async def get_directory_properties(call: _Call) -> web.Response:
    return call.respond(
        200, _property_headers(call.store.get_entry(call.account, call.share, call.path, True))
    )


async def set_directory_properties(call: _Call) -> web.Response:
    # SMB attributes, times and permissions are not modelled: report the directory as it is.
    return call.respond(
        200, _written_headers(call.store.get_entry(call.account, call.share, call.path, True))
    )


async def set_directory_metadata(call: _Call) -> web.Response:
    entry = call.store.set_metadata(call.account, call.share, call.path, call.metadata(), directory=True)
    return call.respond(200, {"ETag": entry.etag, "x-ms-request-server-encrypted": "true"})


def _list_entry(parent: ET.Element, entry: Entry) -> None:
    item = ET.SubElement(parent, "Directory" if entry.is_directory else "File")
    ET.SubElement(item, "FileId").text = entry.file_id
    ET.SubElement(item, "Name").text = entry.name
    props = ET.SubElement(item, "Properties")
    ET.SubElement(props, "Content-Length").text = str(entry.size)
    for tag, moment in (
        ("CreationTime", entry.creation_time),
        ("LastAccessTime", entry.last_modified),
        ("LastWriteTime", entry.last_modified),
        ("ChangeTime", entry.change_time),
    ):
        ET.SubElement(props, tag).text = _iso7(moment)
    ET.SubElement(props, "Last-Modified").text = _rfc1123(entry.last_modified)
    ET.SubElement(props, "Etag").text = entry.etag
    ET.SubElement(item, "Attributes").text = "Directory" if entry.is_directory else "Archive"
    ET.SubElement(item, "PermissionKey").text = _PERMISSION_KEY


async def list_directory(call: _Call) -> web.Response:
    prefix = call.query.get("prefix", "")
    directory = call.store.get_entry(call.account, call.share, call.path, True)
    entries = call.store.list_directory(call.account, call.share, call.path, prefix)
    start, end, next_marker = _page([e.name for e in entries], call)
    root = ET.Element(
        "EnumerationResults",
        ServiceEndpoint=f"{call.request.url.origin()}/{call.account}/",
        ShareName=call.share,
        DirectoryPath=call.path,
    )
    ET.SubElement(root, "Prefix").text = prefix
    for tag in ("Marker", "MaxResults"):
        if tag.lower() in call.query:
            ET.SubElement(root, tag).text = call.query[tag.lower()]
    ET.SubElement(root, "DirectoryId").text = directory.file_id
    listed = ET.SubElement(root, "Entries")
    for entry in entries[start:end]:
        _list_entry(listed, entry)
    ET.SubElement(root, "NextMarker").text = next_marker
    return call.respond(200, body=_xml(root), content_type="application/xml")


# ---- files -------------------------------------------------------------------------------
async def create_file(call: _Call) -> web.Response:
    if (call.headers.get("x-ms-type") or "").lower() != "file":
        raise err.InvalidHeaderValue("Create File needs the header x-ms-type: file.")
    size = call.int_header("x-ms-content-length", 0, MAX_FILE_BYTES)
    if size is None:
        raise err.MissingRequiredHeader("Create File needs the header x-ms-content-length (the file size).")
    entry = await asyncio.to_thread(
        call.store.create_file,
        call.account,
        call.share,
        call.path,
        size,
        _content_settings(call),
        call.metadata(),
    )
    return call.respond(201, _written_headers(entry))


async def get_file_properties(call: _Call) -> web.Response:
    entry = call.store.get_entry(call.account, call.share, call.path, False)
    headers = _property_headers(entry)
    if entry.content.content_md5:
        headers["Content-MD5"] = entry.content.content_md5
    return call.respond(200, headers)


async def download(call: _Call) -> web.StreamResponse:
    entry = call.store.get_entry(call.account, call.share, call.path, False)
    headers = {**_property_headers(entry), "Accept-Ranges": "bytes"}
    wanted = call.byte_range()
    start, end, status = 0, entry.size - 1, 200
    if wanted is not None:
        if wanted[0] >= entry.size:
            raise err.InvalidRange(
                f"The range starts at {wanted[0]} but '{call.path}' has {entry.size} bytes."
            )
        start, end, status = (
            wanted[0],
            min(wanted[1] if wanted[1] is not None else entry.size - 1, entry.size - 1),
            206,
        )
        headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        if entry.content.content_md5:
            headers["x-ms-content-md5"] = entry.content.content_md5
    elif entry.content.content_md5:
        headers["Content-MD5"] = entry.content.content_md5
    headers["Content-Length"] = str(end - start + 1)
    range_md5 = wanted is not None and _flag(call.headers.get("x-ms-range-get-content-md5"))
    if range_md5 and end - start + 1 > MAX_RANGE_BYTES:
        raise err.InvalidHeaderValue("x-ms-range-get-content-md5 needs a range of at most 4 MiB.")
    chunks = call.store.read_range(call.account, call.share, call.path, start, end)
    if range_md5:
        body = await asyncio.to_thread(b"".join, chunks)
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        return call.respond(status, headers, body)
    return await _stream(call, status, headers, chunks)


async def _stream(call: _Call, status: int, headers: dict[str, str], chunks) -> web.StreamResponse:
    response = web.StreamResponse(
        status=status, headers={**_base_headers(call.request, call.request_id), **headers}
    )
    try:
        await response.prepare(call.request)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await response.write(chunk)
        await response.write_eof()
    finally:
        chunks.close()
    return response


async def put_range(call: _Call) -> web.Response:
    wanted = call.byte_range()
    if wanted is None or wanted[1] is None:
        raise err.MissingRequiredHeader("Put Range needs x-ms-range: bytes=<start>-<end>.")
    start, end = wanted
    length = call.request.content_length
    mode = (call.headers.get("x-ms-write") or "").lower()
    if mode == "clear":
        if length:
            raise err.InvalidHeaderValue("Put Range with x-ms-write: clear must have Content-Length: 0.")
        await asyncio.to_thread(
            call.store.clear_range, call.account, call.share, call.path, start, end - start + 1
        )
        md5 = None
    elif mode == "update":
        if length is None:
            raise err.MissingContentLengthHeader()
        if length > MAX_RANGE_BYTES:
            raise err.RequestBodyTooLarge()
        if length != end - start + 1:
            raise err.InvalidHeaderValue(f"Content-Length {length} does not match x-ms-range {start}-{end}.")
        body = await call.request.content.readexactly(length)
        md5 = await asyncio.to_thread(
            call.store.write_range,
            call.account,
            call.share,
            call.path,
            start,
            body,
            call.headers.get("Content-MD5"),
        )
    else:
        raise err.InvalidHeaderValue("Put Range needs x-ms-write: update or clear.")
    entry = call.store.get_entry(call.account, call.share, call.path, False)
    headers = {
        "ETag": entry.etag,
        "Last-Modified": _rfc1123(entry.last_modified),
        "x-ms-request-server-encrypted": "true",
        "x-ms-file-last-write-time": _iso7(entry.last_modified),
    }
    if md5:
        headers["Content-MD5"] = md5
    return call.respond(201, headers)


async def list_ranges(call: _Call) -> web.Response:
    entry = call.store.get_entry(call.account, call.share, call.path, False)
    wanted = call.byte_range()
    low, high = (
        (wanted[0], wanted[1] if wanted[1] is not None else entry.size - 1) if wanted else (0, entry.size - 1)
    )
    root = ET.Element("Ranges")
    for start, end in await asyncio.to_thread(call.store.data_ranges, call.account, call.share, call.path):
        if end >= low and start <= high:
            item = ET.SubElement(root, "Range")
            ET.SubElement(item, "Start").text = str(max(start, low))
            ET.SubElement(item, "End").text = str(min(end, high))
    headers = {
        "ETag": entry.etag,
        "Last-Modified": _rfc1123(entry.last_modified),
        "x-ms-content-length": str(entry.size),
    }
    return call.respond(200, headers, _xml(root), content_type="application/xml")


async def set_file_properties(call: _Call) -> web.Response:
    size = call.int_header("x-ms-content-length", 0, MAX_FILE_BYTES)
    # A resize alone (no content headers) keeps the content settings; otherwise they are replaced.
    if any(name in call.headers for name in _CONTENT_HEADERS):
        content = _content_settings(call)
    else:
        content = call.store.get_entry(call.account, call.share, call.path, False).content
    entry = call.store.set_file_properties(call.account, call.share, call.path, content, size)
    return call.respond(200, _written_headers(entry))


async def set_file_metadata(call: _Call) -> web.Response:
    entry = call.store.set_metadata(call.account, call.share, call.path, call.metadata(), directory=False)
    return call.respond(200, {"ETag": entry.etag, "x-ms-request-server-encrypted": "true"})


async def delete_file(call: _Call) -> web.Response:
    call.store.delete_file(call.account, call.share, call.path)
    return call.respond(202)


def _rename_source(call: _Call) -> str:
    """The source path inside this share, from x-ms-file-rename-source (a URL or a share path)."""
    source = call.headers.get("x-ms-file-rename-source")
    if not source:
        raise err.MissingRequiredHeader("Rename needs the header x-ms-file-rename-source.")
    parts = [unquote(p) for p in urlparse(source).path.strip("/").split("/")]
    if source.lower().startswith("http"):
        if parts[:2] != [call.account, call.share]:
            raise err.InvalidHeaderValue(
                f"x-ms-file-rename-source '{source}' must be in the same account and share "
                "as the destination."
            )
        parts = parts[2:]
    return "/".join(parts)


async def rename(call: _Call) -> web.Response:
    directory = call.query.get("restype") == "directory"
    entry = call.store.rename(
        call.account,
        call.share,
        _rename_source(call),
        call.path,
        _flag(call.headers.get("x-ms-file-rename-replace-if-exists")),
        directory,
    )
    return call.respond(200, _written_headers(entry))


Handler = Callable[[_Call], Awaitable[web.StreamResponse]]
Operations = Callable[[str, str, MultiDictProxy[str]], Handler]  # (method, share, query) -> handler


def handler(store: FileStore, authorize: Authorize, operation_of: Operations):
    """The handler of every /<account>/... path; authorize(request, account, share) raises unless the
    caller may (access.py); operation_of picks the operation (urls.py)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        raw_path = request.rel_url.raw_path
        segments = [unquote(s) for s in raw_path.split("/")[1:]]
        account, share, path = segments[0], (segments[1:2] or [""])[0], "/".join(segments[2:]).strip("/")
        try:
            authorize(request, account, share)
            operation = operation_of(request.method, share, request.rel_url.query)
            return await operation(_Call(request, store, account, share, path, request_id))
        except err.FilesError as error:
            return _error_response(request, request_id, error)

    return handle
