"""One keep-alive HTTP/1.1 connection to an upstream, as an asyncio protocol fed to httptools' C parser.

It carries one request at a time; the answer's body is handed to one reader as it arrives, decoded when it is
gzip or deflate, and reading stops when more than a megabyte waits unread.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from dataclasses import dataclass

import httptools

_HIGH_WATER = 1 << 20  # bytes of unread body at which the socket stops being read


class HttpError(Exception):
    """The connection failed, timed out or carried something that is not HTTP; nothing more can be read."""


class ConnectFailed(HttpError):
    """The connection could not be made; the request was never sent."""


class Timeout(HttpError):
    """No answer (or no more of it) within the time allowed."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: scheme, host and port."""

    scheme: str
    host: str
    port: int


class Answer:
    """One response: status and headers once they arrive, then its body chunk by chunk."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.error: BaseException | None = None
        self.head_ready: asyncio.Future[None] = connection.loop.create_future()
        self.waiter: asyncio.Future[None] | None = None
        self.decoder: zlib._Decompress | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_chunk(self, timeout: float | None) -> bytes | None:
        """Everything of the body that has arrived (decoded) since the last call, or None at its end.

        Taking all that is buffered, not one network read at a time, relays a fast stream in few pieces.
        """
        while not self.chunks:
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            self.waiter = self.connection.loop.create_future()
            if timeout:
                try:
                    async with asyncio.timeout(timeout):
                        await self.waiter
                except TimeoutError:
                    raise Timeout(f"no data from upstream for {timeout:g} s") from None
            else:
                await self.waiter
        chunks = self.chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        self.connection.resume()
        return chunk


class Connection(asyncio.Protocol):
    """One keep-alive connection; it carries one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: Answer | None = None
        self.closed = False
        self.idle_since = 0.0
        self.received = False  # any byte of the current answer arrived
        self._paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        answer = self.answer
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpError("upstream switched protocols"))
            return
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"upstream answer is not valid HTTP: {exc}"))
            return
        # The reader is woken once per network read, however many body pieces (stream events) the read held.
        if answer is not None and answer.chunks:
            answer.buffered += len(data)
            if answer.buffered >= _HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            answer.wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self.answer
        if answer is not None and not answer.complete:
            headers = answer.headers
            if (answer.status and exc is None and "content-length" not in headers
                    and "chunked" not in headers.get("transfer-encoding", "").lower()):
                self.on_message_complete()  # an answer delimited by the connection's end is complete now
            else:
                self._fail(HttpError(f"upstream closed the connection mid-answer ({exc!r})"))

    def eof_received(self) -> bool | None:
        return None  # close the transport

    # -- httptools callbacks ------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.answer is not None:
            self.answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        answer = self.answer
        if answer is None:
            return
        answer.status = self.parser.get_status_code()
        encoding = answer.headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            answer.decoder = zlib.decompressobj(wbits=31)
        elif encoding == "deflate":
            answer.decoder = zlib.decompressobj()
        if not answer.head_ready.done():
            answer.head_ready.set_result(None)

    def on_body(self, body: bytes) -> None:
        answer = self.answer
        if answer is None:
            return
        if answer.decoder is not None:
            try:
                body = answer.decoder.decompress(body)
            except zlib.error as exc:
                self._fail(HttpError(f"upstream body does not decode: {exc}"))
                return
            if not body:
                return
        answer.chunks.append(body)

    def on_message_complete(self) -> None:
        answer = self.answer
        if answer is None:
            return
        if answer.decoder is not None:
            rest = answer.decoder.flush()
            if rest:
                answer.chunks.append(rest)
        answer.complete = True
        if not self.parser.should_keep_alive():
            self.close()
        if not answer.head_ready.done():
            answer.head_ready.set_result(None)
        answer.wake()

    # -- use ----------------------------------------------------------------------------------------------

    def send(self, data: bytes) -> Answer:
        assert self.transport is not None
        self.answer = answer = Answer(self)
        self.received = False
        self.parser = httptools.HttpResponseParser(self)
        self.transport.write(data)
        return answer

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def reusable(self) -> bool:
        return (not self.closed and self.answer is not None and self.answer.complete
                and self.transport is not None and not self.transport.is_closing())

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: BaseException) -> None:
        answer = self.answer
        if answer is not None and not answer.complete and answer.error is None:
            answer.error = error
            if not answer.head_ready.done():
                answer.head_ready.set_exception(error)
                answer.head_ready.exception()  # marked as retrieved: the reader may already be gone
            answer.wake()
        self.close()
