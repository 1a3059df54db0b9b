"""The relay's own ASGI application: `/v1` and `/dashboard/billing`, served without a web framework.

Every call on these routes pays for what runs here, so this is raw ASGI: one dict lookup to find the
route, headers read once, the body read with a limit, a `Reply` sent as one or more body messages.
It keeps what Starlette gave these routes before: CORS for any origin, request ids, OpenAI-style
errors, gin's trailing-slash redirects. The management API and the console stay on Starlette.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tollway import bodies, trailing_slash
from tollway.errors import TollwayError
from tollway.relay.reply import EVENT_STREAM, LastChunk, Reply, error_reply
from tollway.relay.request_ids import RequestIds
from tollway.trailing_slash import Redirect

if TYPE_CHECKING:
    from tollway.relay.auth import Authenticator
    from tollway.relay.pipeline import Relay
    from tollway.routing.current import CurrentRoutes
    from tollway.settings import Settings
    from tollway.storage.cache import Cache
    from tollway.storage.database import Engine

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# CORS for any origin, exactly as Starlette's CORSMiddleware answered with allow_origins=["*"].
_VARY = (b"vary", b"Origin")
_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
_EXPOSE = (b"access-control-expose-headers", b"X-Oneapi-Request-Id")
_PREFLIGHT = [
    (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
              b"Access-Control-Request-Private-Network"),
    _ALLOW_ORIGIN,
    (b"access-control-allow-methods", b"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"),
    (b"access-control-max-age", b"600"),
]
_SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_EVENT_STREAM_TYPE = b"text/event-stream; charset=utf-8"
# A stream longer than this gets a watcher for the client going away; shorter ones end before it matters.
_WATCH_AFTER = 1.0


class Services(Protocol):
    """What the relay's routes use of the services built at startup (tollway.services.Services), named here so that
    the relay does not import the layer that builds it."""

    settings: Settings
    cache: Cache
    routes: CurrentRoutes
    auth: Authenticator
    relay: Relay
    engine: Engine  # the main database: only the billing dashboard's routes read it


@dataclass(slots=True)
class Incoming:
    """One relay request: its scope, headers (names lower-case) and the path's parameters."""

    scope: Scope
    receive: Receive
    headers: dict[bytes, bytes]
    params: dict[str, str]
    services: Services
    request_id: str

    def header(self, name: bytes) -> str:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else ""

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    async def body(self) -> bytes:
        """The request body, within MAX_REQUEST_BODY_MB (413 otherwise) and without long pauses (408)."""
        length = self.headers.get(b"content-length")
        encoding = self.headers.get(b"content-encoding")
        settings = self.services.settings
        return await bodies.read(self.receive, limit=settings.max_request_body_bytes,
                                 length=length.decode("latin-1") if length is not None else None,
                                 encoding=encoding.decode("latin-1") if encoding is not None else None,
                                 idle=settings.request_body_timeout_s)


Endpoint = Callable[[Incoming], Awaitable[Reply]]
# How a route answers an error (with the request id): OpenAI's shape, or the shape of the API the route speaks.
Render = Callable[[TollwayError, str], Reply]


@dataclass(frozen=True)
class Route:
    """A method and path (exact, or `prefix{param}suffix`) served by an endpoint."""

    methods: frozenset[str]
    path: str
    endpoint: Endpoint
    render: Render = error_reply

    @property
    def pattern(self) -> tuple[str, str, str] | None:
        """(prefix, parameter name, suffix) of a path with one `{name}` part, else None."""
        if "{" not in self.path:
            return None
        prefix, rest = self.path.split("{", 1)
        name, suffix = rest.split("}", 1)
        return prefix, name, suffix


class Router:
    """Finds the endpoint of a method and path: exact paths by one dict lookup, then the few patterns in order."""

    def __init__(self, routes: list[Route], fallback: Endpoint) -> None:
        self.table = trailing_slash.RouteTable((method, route.path) for route in routes for method in route.methods)
        self.exact: dict[tuple[str, str], Endpoint] = {}
        self.patterns: list[tuple[frozenset[str], str, str, str, Endpoint]] = []
        self.fallback = fallback
        # Endpoints whose errors take another API's shape (looked up only when an error is answered).
        self.renders: dict[Endpoint, Render] = {route.endpoint: route.render for route in routes
                                                if route.render is not error_reply}
        for route in routes:
            pattern = route.pattern
            if pattern is None:
                for method in route.methods:
                    self.exact.setdefault((method, route.path), route.endpoint)
            else:
                self.patterns.append((route.methods, *pattern, route.endpoint))

    def find(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        endpoint = self.exact.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        for methods, prefix, name, suffix, found in self.patterns:
            if method in methods and path.startswith(prefix) and path.endswith(suffix):
                value = path[len(prefix):len(path) - len(suffix)]
                # A parameter never ends in `/`: `/v1/models/gpt-4o/` is a trailing slash to redirect away.
                if value and value[-1] != "/" and len(path) >= len(prefix) + len(suffix):
                    return found, {name: value}
        return None

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | Redirect:
        """The endpoint, or where gin's RedirectTrailingSlash would send the request, or the fallback."""
        found = self.find(method, path)
        if found is not None:
            return found
        moved = trailing_slash.redirect(method, path, self.table)
        return moved if moved is not None else (self.fallback, {})


class RelayApp:
    """The ASGI callable for the relay's routes; `services` is set once the application has started."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.services: Services | None = None
        self.request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        method: str = scope["method"]
        if origin is not None and method == "OPTIONS" and b"access-control-request-method" in headers:
            await _preflight(headers, send)
            return
        cors = (_VARY, _ALLOW_ORIGIN, _EXPOSE) if origin is not None else (_VARY,)
        path: str = scope["path"]
        resolved = self.router.resolve(method, path)
        if isinstance(resolved, Redirect):
            await _redirect(scope, resolved, method, cors, send)
            return
        endpoint, params = resolved
        request_id = self.request_ids()
        services = self.services
        try:
            if services is None:
                raise TollwayError("Tollway is still starting")
            reply = await endpoint(Incoming(scope, receive, headers, params, services, request_id))
        except TollwayError as exc:
            reply = self.router.renders.get(endpoint, error_reply)(exc, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            reply = self.router.renders.get(endpoint, error_reply)(TollwayError("internal error in Tollway"),
                                                                   request_id)
        await _send(reply, request_id, cors, receive, send)


async def _send(reply: Reply, request_id: str, cors: tuple[tuple[bytes, bytes], ...], receive: Receive,
                send: Send) -> None:
    headers = [(b"x-oneapi-request-id", request_id.encode()), *cors, *reply.headers]
    if reply.stream is None:
        headers.append((b"content-type", reply.media_type.encode()))
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    media_type = _EVENT_STREAM_TYPE if reply.media_type == EVENT_STREAM else reply.media_type.encode()
    headers.append((b"content-type", media_type))
    headers.extend(_SSE_HEADERS)
    await _stream(reply, headers, receive, send)


class _Watch:
    """Cancels a long stream's task when its client disconnects, so the upstream is let go and the call settles.

    uvicorn drops what is sent to a closed connection without a word, so without this a stream whose
    client left would be read from the provider (and billed) to its very end.
    """

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.task = asyncio.current_task()
        self.fired = False
        self.done = False
        self.watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if not self.done and self.task is not None:
                    self.fired = True
                    self.task.cancel()
                return

    def stop(self) -> None:
        self.done = True
        if self.watcher is not None:
            self.watcher.cancel()


async def _stream(reply: Reply, headers: list[tuple[bytes, bytes]], receive: Receive, send: Send) -> None:
    assert reply.stream is not None
    stream = reply.stream
    loop = asyncio.get_running_loop()
    watch = _Watch(receive)
    started = loop.time()
    try:
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        last = b""
        async for chunk in stream:
            if chunk.__class__ is LastChunk:
                last = chunk
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if watch.watcher is None and loop.time() - started > _WATCH_AFTER:
                watch.start()
        watch.stop()
        await send({"type": "http.response.body", "body": last, "more_body": False})
    except asyncio.CancelledError:
        if not watch.fired:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # our own cancellation: the client left, which is no error
    except OSError:
        pass  # the client went away (servers that raise on sending to a closed connection)
    finally:
        # No shield needed: a cancellation arrives once, and has been raised by the time this runs.
        watch.stop()
        aclose = getattr(stream, "aclose", None)
        try:
            if aclose is not None:
                await aclose()
        finally:
            if reply.finish is not None:
                await reply.finish()


async def _preflight(headers: dict[bytes, bytes], send: Send) -> None:
    answer = list(_PREFLIGHT)
    requested = headers.get(b"access-control-request-headers")
    if requested is not None:
        answer.append((b"access-control-allow-headers", requested))
    status, body = 200, b"OK"
    if b"access-control-request-private-network" in headers:
        status, body = 400, b"Disallowed CORS private-network"
    answer += [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": answer})
    await send({"type": "http.response.body", "body": body})


async def _redirect(scope: Scope, moved: Redirect, method: str, cors: tuple[tuple[bytes, bytes], ...],
                    send: Send) -> None:
    """gin's redirect, as Go's http.Redirect writes it (a short HTML body for GET and HEAD only)."""
    query: bytes = scope.get("query_string", b"")
    location = moved.location.encode() + (b"?" + query if query else b"")
    body = b'<a href="' + location + b'">Moved Permanently</a>.\n\n' if method in ("GET", "HEAD") else b""
    headers = [(b"location", location), *cors, (b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"text/html; charset=utf-8"))
    await send({"type": "http.response.start", "status": moved.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
