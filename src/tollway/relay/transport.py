"""The upstream seam: one way to send a request to a provider and read its answer.

The relay pipeline, channel tests, credential exchanges and balance queries all go through a
`Transport`; `relay/aiohttp_transport.py` is the one implementation on sockets, and tests may plug in
their own without opening any.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import UpstreamRequest


class Source:
    """An opened upstream answer: its status and media type, its body in chunks, and a way to let go of it."""

    status: int = 200
    media_type: str = ""
    # Stop reading once the translator has seen the last event: a WebSocket provider expects the client to
    # hang up (Xunfei). An HTTP body is read to its end so the connection can go back to the pool.
    ends_at_last_event: bool = False

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; transport failures raise a retryable UpstreamError."""
        raise NotImplementedError

    async def read(self) -> bytes:
        """The whole body (then the source is closed)."""
        try:
            return b"".join([chunk async for chunk in self.chunks()])
        finally:
            await self.close()

    async def close(self) -> None:
        """Let go of the answer; safe to call more than once."""
        raise NotImplementedError


class Transport(Protocol):
    """Opens upstream answers; built once at startup and closed at shutdown."""

    async def open(self, request: UpstreamRequest) -> Source:
        """Send `request` (HTTP, or a WebSocket and its frames) and return its answer unread.

        Connection failures and timeouts raise a retryable UpstreamError (502 or 504); a refused
        WebSocket handshake raises `HandshakeRefused` so the adaptor can read the provider's reason.
        """
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


class HandshakeRefused(Exception):
    """A WebSocket upgrade the provider answered with an ordinary HTTP status and body."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"WebSocket handshake refused with status {status}")
        self.status = status
        self.body = body


def unreachable(exc: BaseException) -> UpstreamError:
    """The retryable error for an upstream that could not be reached (504 when it was a timeout)."""
    if isinstance(exc, TimeoutError):
        return UpstreamError("upstream timed out", status_code=504, code="upstream_timeout", retryable=True)
    return UpstreamError(f"cannot reach upstream: {exc!r}", status_code=502, code="upstream_unreachable",
                         retryable=True)


def broke_off(exc: BaseException) -> UpstreamError:
    """The retryable error for an answer that stopped before its end."""
    return UpstreamError(f"upstream answer broke off: {exc!r}", status_code=502, code="upstream_read_error",
                         retryable=True)


class BytesSource(Source):
    """An answer already in memory (test transports, cached answers)."""

    def __init__(self, status: int, media_type: str, body: bytes | list[bytes]) -> None:
        self.status = status
        self.media_type = media_type
        self._chunks = [body] if isinstance(body, bytes) else body

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def close(self) -> None:
        return None
