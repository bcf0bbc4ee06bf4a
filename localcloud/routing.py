"""Route tables: each service's urls.py lists (methods, path pattern, handler name) as moto's url files do.

A pattern is a path of segments; ``{name}`` takes one segment, ``{name*}`` the rest (at least one).
Literal segments match without regard to case, as ARM's do.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: str
    handler: str  # the name of the responder's method that answers
    summary: str  # what it does, for the operations table in localcloud/README.md

    def match(self, segments: list[str]) -> dict[str, str] | None:
        parts = self.pattern.strip("/").split("/")
        found: dict[str, str] = {}
        for i, part in enumerate(parts):
            if part.endswith("*}"):
                rest = segments[i:]
                if not rest:
                    return None
                found[part[1:-2]] = "/".join(rest)
                return found
            if i >= len(segments):
                return None
            if part.startswith("{"):
                found[part[1:-1]] = segments[i]
            elif part.lower() != segments[i].lower():
                return None
        return found if len(parts) == len(segments) else None


def resolve(routes: list[Route], method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
    """The first route whose pattern and method match; (route, {}) with route.methods == () when
    only the method is wrong; None when no pattern matches."""
    wrong_method: Route | None = None
    for route in routes:
        params = route.match(segments)
        if params is None:
            continue
        if method in route.methods:
            return route, params
        wrong_method = wrong_method or route
    if wrong_method is not None:
        return Route((), wrong_method.pattern, "", ""), {}
    return None
