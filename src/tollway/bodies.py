"""Reading request bodies with a size limit, including gzip-encoded ones (One API accepts those on /v1)."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from tollway.errors import InvalidRequest, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the {limit // (1024 * 1024)} MiB limit")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (before and after gzip decoding)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        decoder = zlib.decompressobj(wbits=31)
        try:
            body = decoder.decompress(body, limit + 1)
        except zlib.error as exc:
            raise InvalidRequest("request body is not valid gzip") from exc
        if len(body) > limit or decoder.unconsumed_tail:
            raise _too_large(limit)
    return body
