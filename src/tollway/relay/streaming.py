"""Relaying a translated upstream stream to the client chunk by chunk, or collecting it whole.

The first chunks are read before the reply starts: an error the provider sends as its first event
(with HTTP 200) then becomes an ordinary failure that the pipeline may retry on another channel.
Once the reply has started, a failure ends the stream in-band (an error event, then `[DONE]`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import StreamTranslator
from tollway.relay.reply import EVENT_STREAM, LastChunk, Reply
from tollway.relay.transport import Source


async def _prime(chunks: AsyncIterator[bytes], translator: StreamTranslator, on_first_byte: Callable[[], None]
                 ) -> list[bytes]:
    """Read until the translator has something for the client; raise the provider's error if that comes first."""
    state = translator.state
    try:
        chunk = await anext(chunks)
    except StopAsyncIteration:
        return []
    on_first_byte()
    while True:
        primed = translator.feed(chunk)
        if primed:
            return primed  # an error after some output was put in-band by the translator
        if state.error is not None:
            raise state.error
        if state.finished:
            return primed
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return []


def _as_is(error: UpstreamError, frames: bytes) -> bytes:
    return frames


async def relay(source: Source, translator: StreamTranslator, *, request_id: str,
                on_first_byte: Callable[[], None], settle: Callable[[], Awaitable[object]],
                tail: Callable[[], list[bytes]],
                broke: Callable[[UpstreamError, bytes], bytes] = _as_is,
                fail: Callable[[UpstreamError], list[bytes]] | None = None) -> Reply:
    """Start relaying: returns the reply once the stream has proven itself (or raises its error).

    `settle` runs exactly once: when the stream ends, or when the client goes away before that. `broke` hears of
    a failure after the first byte and may rewrite the bytes that tell the client (to cut secrets out); `fail`
    writes those bytes for a client of another API than OpenAI's (an OpenAI error event otherwise).
    """
    chunks = source.chunks()
    try:
        primed = await _prime(chunks, translator, on_first_byte)
    except BaseException:
        await source.close()
        raise
    state = translator.state
    settled = False

    async def settle_once() -> None:
        nonlocal settled
        if not settled:
            settled = True
            await settle()

    async def body() -> AsyncIterator[bytes]:
        if primed:
            first = primed[0] if len(primed) == 1 else b"".join(primed)
            yield broke(state.error, first) if state.error is not None else first
        over = state.error is not None or (state.finished and source.ends_at_last_event)
        try:
            async for chunk in _nothing() if over else chunks:
                out = translator.feed(chunk)
                if state.error is not None:
                    # The translator has told the client in-band; nothing more is read.
                    yield broke(state.error, b"".join(out))
                    break
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
                if state.finished and source.ends_at_last_event:
                    break
        except UpstreamError as exc:
            # The upstream broke off mid-stream: tell the client in-band, bill what was delivered.
            state.error = exc
            told = b"".join(fail(exc)) if fail is not None else sse.frame(orjson.dumps(exc.openai_body(request_id)))
            yield broke(exc, told)
        await settle_once()
        yield LastChunk(b"".join(tail()))

    async def finish() -> None:
        # Settling here happens only when the client went away: what was streamed so far is billed.
        try:
            await settle_once()
        finally:
            await source.close()

    return Reply(200, EVENT_STREAM, stream=body(), finish=finish)


async def _nothing() -> AsyncIterator[bytes]:
    """No more chunks (the stream ended in its first ones)."""
    return
    yield b""  # an async generator, not a coroutine


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


def replay(events: list[bytes]) -> Reply:
    """A stream of events that are all known already (a whole answer replayed for a streaming client)."""

    async def chunks() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return Reply(200, EVENT_STREAM, stream=chunks())
