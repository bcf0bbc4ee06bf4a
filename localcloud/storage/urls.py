"""Storage's routes: its ARM resource types (served by ARM's generic routes) and the Azure Files data plane.

The data plane is path-style on the local cloud's port (/<account>/<share>/<path>); an operation is
told apart by method, ``restype`` and ``comp``, as in the Azure Files REST reference
(https://learn.microsoft.com/rest/api/storageservices/file-service-rest-api).
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from localcloud.storage import exceptions as err
from localcloud.storage import responses as r
from localcloud.storage.access import Authorize
from localcloud.storage.accounts import FileServices, FileShares, StorageAccounts
from localcloud.storage.models import FileStore

resource_kinds = [StorageAccounts, FileServices, FileShares]

ACCOUNT_OPERATIONS: dict[tuple[str, str, str], r.Handler] = {("GET", "", "list"): r.list_shares}
# (method, restype, comp) -> handler, for paths below a share
SHARE_OPERATIONS: dict[tuple[str, str, str], r.Handler] = {
    ("PUT", "share", ""): r.create_share,
    ("DELETE", "share", ""): r.delete_share,
    ("GET", "share", ""): r.get_share_properties,
    ("HEAD", "share", ""): r.get_share_properties,
    ("PUT", "share", "metadata"): r.set_share_metadata,
    ("PUT", "share", "properties"): r.set_share_properties,
    ("PUT", "share", "lease"): r.lease_share,
    ("PUT", "directory", ""): r.create_directory,
    ("DELETE", "directory", ""): r.delete_directory,
    ("GET", "directory", ""): r.get_directory_properties,
    ("HEAD", "directory", ""): r.get_directory_properties,
    ("PUT", "directory", "properties"): r.set_directory_properties,
    ("PUT", "directory", "metadata"): r.set_directory_metadata,
    ("GET", "directory", "list"): r.list_directory,
    ("PUT", "directory", "rename"): r.rename,
    ("PUT", "", ""): r.create_file,
    ("GET", "", ""): r.download,
    ("HEAD", "", ""): r.get_file_properties,
    ("DELETE", "", ""): r.delete_file,
    ("PUT", "", "range"): r.put_range,
    ("GET", "", "rangelist"): r.list_ranges,
    ("PUT", "", "properties"): r.set_file_properties,
    ("PUT", "", "metadata"): r.set_file_metadata,
    ("PUT", "", "rename"): r.rename,
}


def operation_of(method: str, share: str, query: MultiDictProxy[str]) -> r.Handler:
    restype, comp = query.get("restype", ""), query.get("comp", "")
    table = SHARE_OPERATIONS if share else ACCOUNT_OPERATIONS
    found = table.get((method, restype, comp))
    if found is None:
        raise err.UnsupportedOperation(
            f"{method} with restype='{restype}' comp='{comp}' is not an Azure Files operation localcloud serves."
        )
    return found


def add_routes(app: web.Application, store: FileStore, authorize: Authorize) -> None:
    app.router.add_route("*", "/{account}{tail:.*}", r.handler(store, authorize, operation_of))
