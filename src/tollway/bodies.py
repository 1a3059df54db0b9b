"""Reading request bodies with a size limit and an idle timeout, including gzip-encoded ones (One API accepts those).

A body over the limit is still read to its end (up to `DRAIN_LIMIT`) and thrown away before the 413
goes out: a client that is still sending would otherwise see its connection reset instead of the answer.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from starlette.requests import Request

from tollway.errors import InvalidRequest, PayloadTooLarge, RequestTimeout

DRAIN_LIMIT = 1 << 30  # bytes of an over-large body read and discarded so the client can read its 413
DRAIN_SECONDS = 60.0
IDLE_SECONDS = 30.0  # the longest wait for the next piece of a body before 408 (REQUEST_BODY_TIMEOUT)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the {limit // (1024 * 1024)} MiB limit")


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


async def _next(receive: Any, idle: float) -> tuple[bytes, bool]:
    try:
        async with asyncio.timeout(idle):
            message = await receive()
    except TimeoutError:
        raise RequestTimeout(f"the request body stopped arriving for {idle:g} s") from None
    if message["type"] == "http.disconnect":
        raise _Disconnected
    return message.get("body", b""), message.get("more_body", False)


async def _drain(receive: Any, more: bool, idle: float) -> None:
    """Read and discard the rest of a body, within bounds."""
    discarded = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while more and discarded < DRAIN_LIMIT:
                chunk, more = await _next(receive, idle)
                discarded += len(chunk)
    except (TimeoutError, RequestTimeout, _Disconnected):
        return


async def read(receive: Any, *, limit: int, length: str | None, encoding: str | None,
               idle: float = IDLE_SECONDS) -> bytes:
    """The whole body from an ASGI `receive`, refusing more than `limit` bytes (before and after gzip decoding)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise InvalidRequest("the client closed the connection before sending the body")
    body: bytes = message.get("body", b"")
    more: bool = message.get("more_body", False)
    too_large = (length is not None and length.isdigit() and int(length) > limit) or len(body) > limit
    if more and not too_large:
        # Only a body that arrives in pieces pays for the timeout; most relay bodies come in one message.
        chunks = [body]
        size = len(body)
        try:
            while more:
                chunk, more = await _next(receive, idle)
                size += len(chunk)
                if size > limit:
                    too_large = True
                    break
                chunks.append(chunk)
        except _Disconnected:
            raise InvalidRequest("the client closed the connection before sending the whole body") from None
        body = b"".join(chunks)
    if too_large:
        await _drain(receive, more, idle)
        raise _too_large(limit)
    if encoding is not None and encoding.lower() == "gzip":
        decoder = zlib.decompressobj(wbits=31)
        try:
            body = decoder.decompress(body, limit + 1)
        except zlib.error as exc:
            raise InvalidRequest("request body is not valid gzip") from exc
        if len(body) > limit or decoder.unconsumed_tail:
            raise _too_large(limit)
    return body


async def read_body(request: Request, limit: int, idle: float = IDLE_SECONDS) -> bytes:
    """The whole body of a Starlette request (read once; the request's own body() is not used afterwards)."""
    headers = request.headers
    return await read(request.receive, limit=limit, length=headers.get("content-length"),
                      encoding=headers.get("content-encoding"), idle=idle)
