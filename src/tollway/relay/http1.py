"""A lean HTTP/1.1 client for upstream calls: keep-alive connections as asyncio protocols, httptools' C parser.

Per call it does what a proxy needs and nothing more: write the request in one piece, parse the answer
as it arrives, hand body chunks to one reader, and put the connection back in the pool once the answer
is complete. bench/README.md has the measurements that chose it over aiohttp and httpx2.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from urllib.parse import SplitResult, urlsplit

from tollway.relay.http1_connection import Answer, ConnectFailed, Connection, HttpError, Origin, Timeout

__all__ = ["Answer", "ConnectFailed", "HttpError", "Pool", "Timeout"]

_IDLE_SECONDS = 60.0  # a pooled connection unused for longer is closed rather than reused
_ROUTES_REMEMBERED = 4096  # parsed URLs kept; signed URLs (a new query each time) simply miss


class Pool:
    """Keep-alive connections per origin, made on demand, no limit on their number."""

    def __init__(self, *, connect_timeout: float, read_timeout: float | None,
                 proxy: str = "", tls: ssl.SSLContext | None = None) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.proxy = urlsplit(proxy) if proxy else None
        # Without RELAY_PROXY the standard HTTP(S)_PROXY / NO_PROXY variables apply, read once (as Go's client
        # that One API uses does).
        self._environment = {} if proxy else urllib.request.getproxies_environment()
        self.tls = tls or ssl.create_default_context()
        self._idle: dict[Origin, list[Connection]] = {}
        self._routes: dict[str, tuple[Origin, str, str, SplitResult | None]] = {}

    def _route(self, url: str) -> tuple[Origin, str, str, SplitResult | None]:
        """Where a URL goes (origin, request target, Host, proxy); a channel's few URLs are worked out once each."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(f"cannot send to {url!r}: only http and https URLs")
        origin = Origin(scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = self.proxy_for(origin)
        if proxy is not None and scheme == "http":
            target = url  # a plain-HTTP request through a proxy names the whole URL
        found = (origin, target, parts.netloc, proxy)
        if len(self._routes) < _ROUTES_REMEMBERED:
            self._routes[url] = found
        return found

    def proxy_for(self, origin: Origin) -> SplitResult | None:
        """The proxy a connection to `origin` goes through, if any."""
        if self.proxy is not None or not self._environment:
            return self.proxy
        if _bypassed(origin.host, self._environment.get("no", "")):
            return None
        found = self._environment.get(origin.scheme) or self._environment.get("all")
        return urlsplit(found) if found else None

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes,
                      timeout: float | None = None) -> Answer:
        """Send a request; returns once the answer's status and headers have arrived."""
        found = self._routes.get(url)
        if found is None:
            found = self._route(url)
        origin, target, netloc, proxy = found
        data = _encode(method, target, netloc, headers, body)
        for attempt in (0, 1):
            connection, reused = await self._acquire(origin, proxy)
            answer = connection.send(data)
            try:
                await self._wait(answer.head_ready, timeout or self.read_timeout)
            except HttpError:
                connection.close()
                # A pooled connection the upstream had already closed fails before any answer: the request
                # never reached it, so it is sent once more on a new connection.
                if reused and not connection.received and attempt == 0:
                    continue
                raise
            return answer
        raise AssertionError("unreachable")

    async def _wait(self, future: asyncio.Future[None], timeout: float | None) -> None:
        if not timeout:
            await future
            return
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise Timeout(f"no answer from upstream within {timeout:g} s") from None

    def release(self, connection: Connection) -> None:
        """Take back a connection whose answer was read to the end (any other is closed)."""
        if connection.reusable():
            connection.idle_since = time.monotonic()
            connection.answer = None
            self._idle.setdefault(connection.origin, []).append(connection)
        else:
            connection.close()

    async def _acquire(self, origin: Origin, proxy: SplitResult | None) -> tuple[Connection, bool]:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_SECONDS:
                return connection, True
            connection.close()
        return await self._connect(origin, proxy), False

    async def _connect(self, origin: Origin, proxy: SplitResult | None) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self.tls if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                if proxy is None:
                    _, connection = await loop.create_connection(
                        lambda: Connection(loop, origin), origin.host, origin.port, ssl=tls,
                        server_hostname=origin.host if tls else None)
                else:
                    connection = await self._through_proxy(loop, origin, tls, proxy)
        except TimeoutError:
            raise Timeout(f"connecting to {origin.host}:{origin.port} took longer than {self.connect_timeout:g} s"
                          ) from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        return connection

    async def _through_proxy(self, loop: asyncio.AbstractEventLoop, origin: Origin, tls: ssl.SSLContext | None,
                             proxy: SplitResult) -> Connection:
        if not proxy.hostname:
            raise ConnectFailed(f"the proxy {proxy.geturl()!r} has no host")
        port = proxy.port or (443 if proxy.scheme == "https" else 80)
        proxy_tls = ssl.create_default_context() if proxy.scheme == "https" else None
        _, connection = await loop.create_connection(
            lambda: Connection(loop, origin), proxy.hostname, port, ssl=proxy_tls,
            server_hostname=proxy.hostname if proxy_tls else None)
        if tls is None:
            return connection  # plain HTTP goes to the proxy with the whole URL as its target
        # HTTPS goes through a CONNECT tunnel, then TLS to the origin inside it.
        authority = f"{origin.host}:{origin.port}"
        answer = connection.send(_encode("CONNECT", authority, authority, {}, b"", length=False))
        await answer.head_ready
        if answer.status != 200:
            connection.close()
            raise ConnectFailed(f"the proxy refused to connect to {authority} (status {answer.status})")
        assert connection.transport is not None
        upgraded = await loop.start_tls(connection.transport, connection, tls, server_hostname=origin.host)
        connection.transport = upgraded
        connection.answer = None
        return connection

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY (`*`, hosts and domain suffixes, comma-separated) exempts a host from the proxy."""
    host = host.lower()
    for entry in no_proxy.lower().replace(" ", "").split(","):
        entry = entry.lstrip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _encode(method: str, target: str, netloc: str, headers: dict[str, str], body: bytes, *,
            length: bool = True) -> bytes:
    """The request's bytes; Host and Content-Length added unless the caller set them (signed requests do)."""
    lines = [f"{method} {target} HTTP/1.1"]
    names = {name.lower() for name in headers}
    if "host" not in names:
        lines.append(f"Host: {netloc}")
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ConnectFailed(f"header {name!r} has a line break")
        lines.append(f"{name}: {value}")
    if length and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: gzip, deflate")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + body
