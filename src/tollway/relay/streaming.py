"""Relaying a translated upstream stream to the client chunk by chunk, or collecting it whole.

The first chunks are read before the response starts: an error the provider sends as its first event
(with HTTP 200) then becomes an ordinary failure that the pipeline may retry on another channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import StreamTranslator
from tollway.relay.transport import Source

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

class RelayStream(StreamingResponse):
    """A streaming response that settles and closes the upstream even if its body is never iterated."""

    def __init__(self, content: AsyncIterator[bytes] | Iterable[bytes], finish: Callable[[], Awaitable[None]], *,
                 headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers={**SSE_HEADERS, **headers})
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._finish()


async def _prime(chunks: AsyncIterator[bytes], translator: StreamTranslator, on_first_byte: Callable[[], None]
                 ) -> list[bytes]:
    """Read until the translator has something for the client; raise the provider's error if that comes first."""
    primed: list[bytes] = []
    first = True
    while not primed:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        if first:
            on_first_byte()
            first = False
        primed.extend(translator.feed(chunk))
        if translator.state.error is not None:
            raise translator.state.error
        if translator.state.finished:
            break
    return primed


async def relay(source: Source, translator: StreamTranslator, *, request_id: str,
                on_first_byte: Callable[[], None], settle: Callable[[], object],
                tail: Callable[[], list[bytes]]) -> RelayStream:
    """Start relaying: returns the response once the stream has proven itself (or raises its error)."""
    chunks = source.chunks()
    try:
        primed = await _prime(chunks, translator, on_first_byte)
    except BaseException:
        await source.close()
        raise
    settled = False

    def settle_once() -> None:
        nonlocal settled
        if not settled:
            settled = True
            settle()

    async def body() -> AsyncIterator[bytes]:
        if primed:
            yield b"".join(primed)
        try:
            async for chunk in chunks:
                out = translator.feed(chunk)
                if out:
                    yield b"".join(out) if len(out) > 1 else out[0]
                if translator.state.finished and source.ends_at_last_event:
                    break
        except UpstreamError as exc:
            # The upstream broke off mid-stream: tell the client in-band, bill what was delivered.
            translator.state.error = exc
            yield sse.frame(orjson.dumps(exc.openai_body(request_id)))
        settle_once()
        yield b"".join(tail())

    async def finish() -> None:
        # Settling here happens only when the client went away: what was streamed so far is billed.
        settle_once()
        await asyncio.shield(source.close())

    return RelayStream(body(), finish, headers={"X-Oneapi-Request-Id": request_id})


async def collect(source: Source, translator: StreamTranslator, on_first_byte: Callable[[], None]) -> list[bytes]:
    """Translate a whole stream for a client that asked for one answer; raise the provider's error."""
    events: list[bytes] = []
    first = True
    try:
        async for chunk in source.chunks():
            if first:
                on_first_byte()
                first = False
            events.extend(translator.feed(chunk))
            if translator.state.error is not None:
                raise translator.state.error
            if translator.state.finished and source.ends_at_last_event:
                break
    finally:
        await source.close()
    return events


def replay(events: list[bytes], request_id: str) -> RelayStream:
    """A stream of events that are all known already (a whole answer replayed for a streaming client)."""

    async def nothing() -> None:
        return None

    return RelayStream(iter(events), nothing, headers={"X-Oneapi-Request-Id": request_id})
