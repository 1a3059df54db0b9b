"""The default transport: the lean HTTP/1.1 client (relay/http1.py) for HTTP, the websockets library for WebSockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tollway.relay import http1
from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.socket_source import open_socket
from tollway.relay.transport import Source, broke_off, unreachable

_CONNECT_LIMIT = 15.0  # seconds; RELAY_TIMEOUT only ever shortens it


class HttpSource(Source):
    """An answer read chunk by chunk as the provider sends it."""

    def __init__(self, pool: http1.Pool, answer: http1.Answer, timeout: float | None) -> None:
        self.pool = pool
        self.answer = answer
        self.timeout = timeout
        self.status = answer.status
        self.media_type = answer.headers.get("content-type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        answer, timeout = self.answer, self.timeout
        while True:
            try:
                chunk = await answer.next_chunk(timeout)
            except http1.Timeout as exc:
                raise unreachable(TimeoutError(str(exc))) from exc
            except http1.HttpError as exc:
                raise broke_off(exc) from exc
            if chunk is None:
                self.pool.release(answer.connection)
                return
            yield chunk

    async def read(self) -> bytes:
        answer = self.answer
        if answer.complete and not answer.chunks:
            self.pool.release(answer.connection)
            return b""
        if answer.complete:
            # The usual whole answer: it arrived with its headers, so no waiting at all.
            body = b"".join(answer.chunks) if len(answer.chunks) > 1 else answer.chunks[0]
            answer.chunks.clear()
            self.pool.release(answer.connection)
            return body
        return await super().read()

    async def close(self) -> None:
        if not self.answer.complete:
            self.answer.connection.close()  # abandoned mid-body: the connection cannot be reused


class Http1Transport:
    """The process's pool of upstream connections (RELAY_TIMEOUT 0 means no read timeout)."""

    def __init__(self, *, read_timeout: float | None = None, proxy: str = "") -> None:
        self.read_timeout = read_timeout
        self.pool = http1.Pool(connect_timeout=min(read_timeout or _CONNECT_LIMIT, _CONNECT_LIMIT),
                               read_timeout=read_timeout, proxy=proxy)

    async def open(self, request: UpstreamRequest) -> Source:
        if request.transport == "websocket":
            return await open_socket(request, self.read_timeout)
        try:
            answer = await self.pool.request(request.method, request.url, request.headers, request.content,
                                             request.timeout)
        except http1.Timeout as exc:
            raise unreachable(TimeoutError(str(exc))) from exc
        except http1.HttpError as exc:
            raise unreachable(exc) from exc
        return HttpSource(self.pool, answer, request.timeout or self.read_timeout)

    async def aclose(self) -> None:
        await self.pool.close()
