"""A transport on aiohttp (UPSTREAM_CLIENT=aiohttp): one pooled session for HTTP, the websockets library for
WebSocket providers. The default is the leaner relay/http1_transport.py; bench/README.md compares them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
from yarl import URL

from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.socket_source import open_socket
from tollway.relay.transport import Source, broke_off, unreachable

_CONNECT_LIMIT = 15.0  # seconds; RELAY_TIMEOUT only ever shortens it


class HttpSource(Source):
    """An aiohttp answer read chunk by chunk as the provider sends it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status = response.status
        self.media_type = response.headers.get("Content-Type", "")
        self._done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise broke_off(exc) from exc
        self._done = True

    async def read(self) -> bytes:
        try:
            body = await self.response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise broke_off(exc) from exc
        finally:
            await self.close()
        return body

    async def close(self) -> None:
        if self._done or self.response.content.is_eof():
            self.response.release()  # the connection goes back to the pool
        else:
            self.response.close()  # abandoned mid-body: the connection cannot be reused


class AiohttpTransport:
    """The process's one upstream connection pool (RELAY_TIMEOUT 0 means no read timeout)."""

    def __init__(self, *, read_timeout: float | None = None, proxy: str = "") -> None:
        connect_limit = min(read_timeout or _CONNECT_LIMIT, _CONNECT_LIMIT)
        self.read_timeout = read_timeout
        self.proxy = proxy or None
        self.timeout = aiohttp.ClientTimeout(total=None, connect=connect_limit, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop, as aiohttp requires.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=60)
            # The standard HTTPS_PROXY/NO_PROXY variables apply when RELAY_PROXY is unset. Only then: aiohttp
            # reads them (and ~/.netrc, in a thread) on every request, which cost a tenth of a call's CPU.
            trust_env = self.proxy is None and any(name.lower().endswith("_proxy") for name in os.environ)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, trust_env=trust_env,
                                                  auto_decompress=True)
        return self._session

    async def open(self, request: UpstreamRequest) -> Source:
        if request.transport == "websocket":
            return await open_socket(request, self.read_timeout)
        try:
            # encoded=True: signed URLs (SigV4, Xunfei's HMAC) must reach the provider byte for byte.
            url = URL(request.url, encoded=True)
            if request.timeout:
                response = await self.session.request(
                    request.method, url, headers=request.headers, data=request.content or None, proxy=self.proxy,
                    allow_redirects=False, timeout=aiohttp.ClientTimeout(total=request.timeout))
            else:
                response = await self.session.request(
                    request.method, url, headers=request.headers, data=request.content or None, proxy=self.proxy,
                    allow_redirects=False)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc
        return HttpSource(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # aiohttp's connections finish closing on the next loop iterations.
            await asyncio.sleep(0)
            self._session = None
