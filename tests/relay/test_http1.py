"""The lean HTTP/1.1 upstream client against raw servers: keep-alive, stale connections, body framings, gzip,
proxies, timeouts and flow control."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tollway.relay import http1

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A raw HTTP server on 127.0.0.1 counting connections and request lines."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.lines: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader, lines: list[str] | None = None) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if lines is not None:
        lines.append(head.split(b"\r\n", 1)[0].decode())
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = lengths[0] if lengths else 0
    return await reader.readexactly(length)


def answer(body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


async def read_all(pool: http1.Pool, found: http1.Answer) -> bytes:
    """The body as HttpSource reads it: chunk by chunk, and the connection back to the pool at its end."""
    chunks = []
    while (chunk := await found.next_chunk(None)) is not None:
        chunks.append(chunk)
    pool.release(found.connection)
    return b"".join(chunks)


@pytest.fixture
async def pool() -> AsyncIterator[http1.Pool]:
    made = http1.Pool(connect_timeout=5, read_timeout=None)
    yield made
    await made.close()


async def test_keep_alive_reuses_one_connection(pool: http1.Pool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await read_request(reader)
            writer.write(answer(b"echo " + body))

    async with Server(handler) as server:
        for n in range(3):
            found = await pool.request("POST", f"http://127.0.0.1:{server.port}/x", {}, b"%d" % n)
            assert found.status == 200 and await read_all(pool, found) == b"echo %d" % n
        assert server.connections == 1


async def test_a_pooled_connection_the_upstream_closed_is_retried_on_a_new_one(pool: http1.Pool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"once"))  # keep-alive promised, then the connection is dropped anyway
        await writer.drain()

    async with Server(handler) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert await read_all(pool, await pool.request("GET", url, {}, b"")) == b"once"
        await asyncio.sleep(0.1)
        assert await read_all(pool, await pool.request("GET", url, {}, b"")) == b"once"
        assert server.connections == 2


@pytest.mark.parametrize("framing", ["chunked", "length", "close", "gzip"])
async def test_every_body_framing_and_gzip(pool: http1.Pool, framing: str) -> None:
    text = b"data: " + b"x" * 3_000_000 + b"\n\n"  # larger than the read-pause mark

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if framing == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(text), 100_000):
                piece = text[start:start + 100_000]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            writer.write(b"0\r\n\r\n")
        elif framing == "length":
            writer.write(answer(text))
        elif framing == "close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + text)
            await writer.drain()
            writer.close()
        else:
            writer.write(answer(gzip.compress(text), "Content-Encoding: gzip"))
        await writer.drain()

    async with Server(handler) as server:
        found = await pool.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"{}")
        assert await read_all(pool, found) == text


async def test_a_plain_http_request_goes_to_the_proxy_with_the_whole_url() -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"from upstream"))

    async with Server(upstream) as target:
        lines: list[str] = []

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            body = await read_request(reader, lines)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target.port)
            up_writer.write(f"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            head = await up_reader.readuntil(b"\r\n\r\n")
            size = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                       .split(b":")[1])
            writer.write(head + await up_reader.readexactly(size))
            up_writer.close()

        async with Server(proxy) as front:
            proxied = http1.Pool(connect_timeout=5, read_timeout=None, proxy=f"http://127.0.0.1:{front.port}")
            url = f"http://127.0.0.1:{target.port}/v1/x"
            found = await proxied.request("POST", url, {"Content-Type": "application/json"}, b"{}")
            assert await read_all(proxied, found) == b"from upstream"
            assert lines == [f"POST {url} HTTP/1.1"]
            await proxied.close()


def test_no_proxy_exempts_hosts_and_domains() -> None:
    assert http1._bypassed("api.example.com", "localhost, .example.com")
    assert http1._bypassed("localhost", "localhost,127.0.0.1")
    assert http1._bypassed("anything", "*")
    assert not http1._bypassed("api.openai.com", "example.com,localhost")


async def test_an_answer_that_never_comes_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    async with Server(handler) as server:
        slow = http1.Pool(connect_timeout=5, read_timeout=0.3)
        with pytest.raises(http1.Timeout):
            await slow.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"{}")
        await slow.close()


async def test_an_unreachable_upstream_fails_to_connect(pool: http1.Pool) -> None:
    with pytest.raises(http1.ConnectFailed):
        await pool.request("GET", "http://127.0.0.1:1/", {}, b"")


async def test_headers_with_line_breaks_are_refused(pool: http1.Pool) -> None:
    with pytest.raises(http1.ConnectFailed, match="line break"):
        await pool.request("GET", "http://127.0.0.1:1/", {"X-Evil": "a\r\nInjected: yes"}, b"")
