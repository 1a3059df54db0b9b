"""Upstream answers over a WebSocket (Xunfei Spark): connect, send the request's frames, read message by message."""

from __future__ import annotations

from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus, WebSocketException

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.transport import HandshakeRefused, Source, unreachable


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


async def open_socket(request: UpstreamRequest, timeout: float | None) -> SocketSource:
    """Connect and send the request's frames; a refused handshake raises HandshakeRefused."""
    try:
        connection = await connect(request.url, additional_headers=request.headers or None,
                                   open_timeout=timeout or 30, proxy=None, max_size=16 * 1024 * 1024)
    except InvalidStatus as exc:
        raise HandshakeRefused(exc.response.status_code, bytes(exc.response.body or b"")) from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise unreachable(exc) from exc
    for frame in request.frames:
        await connection.send(frame)
    return SocketSource(connection)
