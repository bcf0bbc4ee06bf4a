"""The operations localcloud serves, as the Markdown table in localcloud/README.md, built from the route
tables (each service's urls.py and every resource kind's actions), so the README cannot drift from them.

``python -m localcloud.catalog`` prints the table; a test holds the README to it.
"""

from __future__ import annotations

from localcloud.arm import urls as arm_urls
from localcloud.authorization import urls as authorization_urls
from localcloud.containerapps import urls as containerapps_urls
from localcloud.identity import urls as identity_urls
from localcloud.loganalytics import urls as loganalytics_urls
from localcloud.routing import Route
from localcloud.server import CONTROL_ROUTES
from localcloud.storage import urls as storage_urls

RESOURCE_KINDS = [
    *storage_urls.resource_kinds,
    *loganalytics_urls.resource_kinds,
    *containerapps_urls.resource_kinds,
]
_GROUP = "/subscriptions/{subscription}/resourceGroups/{group}/providers/"


def _rows(area: str, routes: list[Route]) -> list[tuple[str, str, str, str]]:
    return [(area, ", ".join(r.methods), f"`{r.pattern}`", r.summary) for r in routes]


def _resource_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for kind in RESOURCE_KINDS:
        namespace, *types = kind.type_name.split("/")
        path = _GROUP + namespace + "".join(f"/{t}/{{{t[:-1] if t.endswith('s') else t}}}" for t in types)
        methods = "GET, PUT, PATCH, DELETE, HEAD" if kind.creatable else "GET"
        rows.append(("ARM resource", methods, f"`{path}`", f"{kind.type_name} (and its list)"))
        rows.extend(
            ("ARM resource", "POST", f"`{path}/{action}`", f"action {action} of {types[-1]}")
            for action in kind.actions
        )
    return rows


def _files_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for level, table in (("/{account}", storage_urls.ACCOUNT_OPERATIONS), ("/{account}/{share}/{path}",
                                                                          storage_urls.SHARE_OPERATIONS)):
        for (method, restype, comp), handler in table.items():
            query = "&".join(f"{k}={v}" for k, v in (("restype", restype), ("comp", comp)) if v)
            rows.append(("Azure Files", method, f"`{level}{'?' + query if query else ''}`", handler.__name__))
    return rows


def rows() -> list[tuple[str, str, str, str]]:
    return [
        *_rows("localcloud", CONTROL_ROUTES),
        *_rows("identity", identity_urls.routes),
        *_rows("ARM", arm_urls.routes),
        *_resource_rows(),
        *[(area, m, f"`{authorization_urls.PREFIX}{path.strip('`')}`", s)
          for area, m, path, s in _rows("ARM authorization", authorization_urls.routes)],
        *_rows("Container Apps", containerapps_urls.routes),
        *_files_rows(),
    ]


# Abbreviations of the table, explained above it in the README.
_SHORT = (("/subscriptions/{subscription}/resourceGroups/{group}", "{rg}"), ("/subscriptions/{subscription}", "{sub}"))


def _short(path: str) -> str:
    for long, short in _SHORT:
        path = path.replace(long, short)
    return path


def markdown() -> str:
    lines = ["| Service | Method | Path | Operation |", "|---|---|---|---|"]
    lines += [f"| {area} | {method} | {_short(path)} | {summary} |" for area, method, path, summary in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
