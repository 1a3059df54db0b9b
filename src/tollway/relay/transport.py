"""Opening upstream answers: HTTP through the pooled client, or a WebSocket (Xunfei Spark)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus, WebSocketException

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, UpstreamRequest


class Source:
    """An opened upstream answer: its status and media type, its body in chunks, and a way to let go of it."""

    status: int = 200
    media_type: str = ""
    # Stop reading once the translator has seen the last event: a WebSocket provider expects the client to
    # hang up (Xunfei). An HTTP body is read to its end so the connection can go back to the pool.
    ends_at_last_event: bool = False

    def chunks(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def read(self) -> bytes:
        """The whole body (then the source is closed)."""
        try:
            return b"".join([chunk async for chunk in self.chunks()])
        finally:
            await self.close()

    async def close(self) -> None:
        raise NotImplementedError


class HttpSource(Source):
    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.media_type = response.headers.get("content-type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_bytes():
                yield chunk
        except httpx2.HTTPError as exc:
            raise UpstreamError(f"upstream answer broke off: {exc!r}", status_code=502, code="upstream_read_error",
                                retryable=True) from exc

    async def close(self) -> None:
        await self.response.aclose()


class SocketSource(Source):
    """Each WebSocket message is one chunk; the client closes the socket after the last one."""

    media_type = "application/x-websocket-frames"
    ends_at_last_event = True

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for message in self.connection:
                yield message.encode() if isinstance(message, str) else message
        except ConnectionClosedOK:
            return
        except WebSocketException as exc:
            raise UpstreamError(f"upstream WebSocket broke off: {exc!r}", status_code=502,
                                code="upstream_read_error", retryable=True) from exc

    async def close(self) -> None:
        await self.connection.close()


async def open_http(client: httpx2.AsyncClient, request: UpstreamRequest) -> HttpSource:
    """Send an HTTP request and return its answer unread; transport failures become retryable errors."""
    built = client.build_request(request.method, request.url, headers=request.headers, content=request.content)
    try:
        return HttpSource(await client.send(built, stream=True))
    except httpx2.TimeoutException as exc:
        raise UpstreamError("upstream timed out", status_code=504, code="upstream_timeout", retryable=True) from exc
    except httpx2.HTTPError as exc:
        raise UpstreamError(f"cannot reach upstream: {exc!r}", status_code=502, code="upstream_unreachable",
                            retryable=True) from exc


async def open_socket(request: UpstreamRequest, adaptor: Adaptor, timeout: float | None) -> SocketSource:
    """Connect a WebSocket and send the request's frames; a refused handshake is the adaptor's error."""
    try:
        connection = await connect(request.url, additional_headers=request.headers or None,
                                   open_timeout=timeout or 30, proxy=None, max_size=16 * 1024 * 1024)
    except InvalidStatus as exc:
        raise adaptor.error(exc.response.status_code, bytes(exc.response.body or b"")) from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise UpstreamError(f"cannot reach upstream: {exc!r}", status_code=502, code="upstream_unreachable",
                            retryable=True) from exc
    for frame in request.frames:
        await connection.send(frame)
    return SocketSource(connection)
