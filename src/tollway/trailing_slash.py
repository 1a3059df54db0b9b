"""gin's RedirectTrailingSlash, which One API's web UI relies on: a path that misses every route of its method
only by a final `/` (one too many, or one too few) is redirected to the route's form, 301 for GET, 307 otherwise.

`redirect()` is a plain function over a `RouteTable`, so any router can ask it once nothing matched; `with_redirects`
wires it into a list of Starlette routes. It runs only on a miss, so it costs nothing on the paths that exist.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

# `{name}`, `{name:int}`, ... match one path segment, as gin's `:name`; `{name:path}` matches the rest, as `*name`.
_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
CATCH_ALL = "/{rest:path}"

# One API's relay and billing routes (router/relay.go, router/dashboard.go) as Tollway serves them, for a router
# that is not Starlette's. `/v1/oneapi/proxy/...` is left out: Tollway does not offer type 43's proxy route.
_RELAY_POST = ("/completions", "/chat/completions", "/edits", "/images/generations", "/images/edits",
               "/images/variations", "/embeddings", "/engines/{model}/embeddings", "/audio/transcriptions",
               "/audio/translations", "/audio/speech", "/files", "/fine_tuning/jobs", "/fine_tuning/jobs/{id}/cancel",
               "/moderations", "/assistants", "/assistants/{id}", "/assistants/{id}/files", "/threads",
               "/threads/{id}", "/threads/{id}/messages", "/threads/{id}/messages/{message_id}",
               "/threads/{id}/runs", "/threads/{id}/runs/{run_id}", "/threads/{id}/runs/{run_id}/submit_tool_outputs",
               "/threads/{id}/runs/{run_id}/cancel")
_RELAY_GET = ("/models", "/models/{model}", "/files", "/files/{id}", "/files/{id}/content", "/fine_tuning/jobs",
              "/fine_tuning/jobs/{id}", "/fine_tuning/jobs/{id}/events", "/assistants/{id}", "/assistants",
              "/assistants/{id}/files/{file_id}", "/assistants/{id}/files", "/threads/{id}",
              "/threads/{id}/messages/{message_id}", "/threads/{id}/messages/{message_id}/files/{file_id}",
              "/threads/{id}/messages/{message_id}/files", "/threads/{id}/runs/{run_id}", "/threads/{id}/runs",
              "/threads/{id}/runs/{run_id}/steps/{step_id}", "/threads/{id}/runs/{run_id}/steps",
              "/dashboard/billing/subscription", "/dashboard/billing/usage")
_RELAY_DELETE = ("/files/{id}", "/models/{model}", "/assistants/{id}", "/assistants/{id}/files/{file_id}",
                 "/threads/{id}")
RELAY_ROUTES: tuple[tuple[str, str], ...] = (
    *(("POST", "/v1" + path) for path in _RELAY_POST),
    *(("GET", "/v1" + path) for path in _RELAY_GET),
    *(("DELETE", "/v1" + path) for path in _RELAY_DELETE),
    ("GET", "/dashboard/billing/subscription"),
    ("GET", "/dashboard/billing/usage"),
)


def _pattern(path: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PARAM.finditer(path):
        parts += [re.escape(path[last:match.start()]), ".*" if match.group(2) == "path" else "[^/]+"]
        last = match.end()
    return re.compile("".join(parts) + re.escape(path[last:]))


class RouteTable:
    """The (method, path pattern) pairs a router serves, compiled once."""

    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        self._static: dict[str, set[str]] = {}
        self._patterns: dict[str, list[re.Pattern[str]]] = {}
        for method, path in routes:
            if _PARAM.search(path):
                self._patterns.setdefault(method.upper(), []).append(_pattern(path))
            else:
                self._static.setdefault(method.upper(), set()).add(path)

    @classmethod
    def of(cls, prefix: str, routes: Iterable[BaseRoute]) -> RouteTable:
        """The table of Starlette routes mounted at `prefix`, leaving out a catch-all."""
        return cls((method, prefix + route.path) for route in routes
                   if isinstance(route, Route) and route.path != CATCH_ALL for method in route.methods or ())

    def serves(self, method: str, path: str) -> bool:
        """Whether a route of this method matches the path exactly."""
        if path in self._static.get(method, ()):
            return True
        return any(pattern.fullmatch(path) for pattern in self._patterns.get(method, ()))


@dataclass(frozen=True)
class Redirect:
    """Where gin would send the request, and with which status."""

    status: int
    location: str


def redirect(method: str, path: str, table: RouteTable, query: str = "") -> Redirect | None:
    """gin's answer for a request no route matched: a redirect to the other slash form if a route serves it."""
    method = method.upper()
    if path in ("", "/") or method == "CONNECT" or table.serves(method, path):
        return None
    other = path[:-1] if path.endswith("/") else path + "/"
    if not table.serves(method, other):
        return None
    # gin's redirectRequest: 301 (permanent) for GET, 307 for every other method so the body is sent again.
    return Redirect(301 if method == "GET" else 307, other + (f"?{query}" if query else ""))


def response(found: Redirect, method: str) -> Response:
    """The redirect as Go's http.Redirect writes it (a short HTML body for GET and HEAD only)."""
    body = f'<a href="{found.location}">Moved Permanently</a>.\n\n' if method in ("GET", "HEAD") else ""
    return Response(body, status_code=found.status, headers={"Location": found.location},
                    media_type="text/html; charset=utf-8" if body else None)


Endpoint = Callable[[Request], Awaitable[Response]]
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _plain_not_found(request: Request) -> Response:
    raise HTTPException(404)


def with_redirects(prefix: str, routes: Sequence[BaseRoute], table: RouteTable | None = None) -> list[BaseRoute]:
    """Starlette routes mounted at `prefix` whose catch-all (or Starlette's own 404) answers gin's redirect first."""
    known = table or RouteTable.of(prefix, routes)
    catch_all = next((route for route in routes if isinstance(route, Route) and route.path == CATCH_ALL), None)
    fallback: Endpoint = catch_all.endpoint if catch_all is not None else _plain_not_found
    methods = sorted(catch_all.methods or _ANY_METHOD) if catch_all is not None else _ANY_METHOD

    async def missed(request: Request) -> Response:
        raw = request.scope.get("raw_path")
        # The undecoded path, so that an escaped character in it comes back as the client sent it.
        path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
        found = redirect(request.method, request.url.path, known, request.url.query)
        if found is None:
            return await fallback(request)
        location = (path[:-1] if path.endswith("/") else path + "/") + (f"?{request.url.query}"
                                                                        if request.url.query else "")
        return response(Redirect(found.status, location), request.method)

    kept = [route for route in routes if route is not catch_all]
    return [*kept, Route(CATCH_ALL, missed, methods=methods)]
