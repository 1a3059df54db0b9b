"""A fault-injecting upstream: a raw TCP server that answers OpenAI's chat route the way broken providers do.

The model name of each request picks the fault (see `FAULTS`); a model it does not know gets a normal answer.
Raw sockets, not a web framework, so that it can reset a connection before or in the middle of an answer, hang,
or send bytes no framework would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

PIECES = ["Hello", " from", " a", " faulty", " mock", "."]
FAULTS = ("reset_before", "reset_during", "reset_mid_stream", "hang", "status_500_json", "status_429_json",
          "status_502_html", "broken_first_event", "broken_mid_stream", "odd_created", "huge_chunk",
          "error_in_200_stream", "slow_stream")


def _chunk(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def _delta(model: str, delta: dict[str, Any], finish: str | None = None, created: Any = 1_700_000_000) -> bytes:
    return _chunk({"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


class FaultMock:
    """The server, run on its own loop in a background thread; `requests` counts what reached it per model."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.release = threading.Event()  # lets a `slow_stream` finish
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultMock:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self.server is not None:
            self.loop.call_soon_threadsafe(self.server.close)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = json.loads(await reader.readexactly(length)) if length else {}
                model = str(body.get("model", ""))
                self.requests[model] = self.requests.get(model, 0) + 1
                handler = getattr(self, f"_{model}", None) if model in FAULTS else None
                keep = await (handler or self._normal)(writer, body, model)
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    # -- answers ---------------------------------------------------------------------------------------------

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: str, media_type: str, body: bytes) -> bool:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {media_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body)
        await writer.drain()
        return True

    @staticmethod
    async def _stream(writer: asyncio.StreamWriter, events: list[bytes], pause: float = 0.0,
                      between: Callable[[int], Awaitable[None]] | None = None) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for index, event in enumerate(events):
            if between is not None:
                await between(index)
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        """Close with a TCP reset rather than a clean end."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    def _events(self, model: str, stream: bool) -> list[bytes]:
        events = [_delta(model, {"role": "assistant", "content": ""})]
        events += [_delta(model, {"content": piece}) for piece in PIECES]
        events.append(_delta(model, {}, "stop"))
        return events

    async def _normal(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        usage = {"prompt_tokens": 7, "completion_tokens": len(PIECES), "total_tokens": 7 + len(PIECES)}
        if not body.get("stream"):
            answer = {"id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()),
                      "model": model, "choices": [{"index": 0, "message": {"role": "assistant",
                                                                           "content": "".join(PIECES)},
                                                   "finish_reason": "stop"}], "usage": usage}
            return await self._send(writer, "200 OK", "application/json", json.dumps(answer).encode())
        events = self._events(model, True)
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(_chunk({"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1,
                                  "model": model, "choices": [], "usage": usage}))
        await self._stream(writer, [*events, b"data: [DONE]\n\n"])
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _reset_before(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        self._reset(writer)
        return False

    async def _reset_during(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\": \"cha")
        await writer.drain()
        await asyncio.sleep(0.05)
        self._reset(writer)
        return False

    async def _reset_mid_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        await self._stream(writer, self._events(model, True)[:4])
        await asyncio.sleep(0.05)
        self._reset(writer)
        return False

    async def _hang(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        await asyncio.sleep(3600)
        return False

    async def _status_500_json(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        error = {"error": {"message": "the model is overloaded", "type": "server_error", "param": None, "code": None}}
        return await self._send(writer, "500 Internal Server Error", "application/json", json.dumps(error).encode())

    async def _status_429_json(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        error = {"error": {"message": "Rate limit reached", "type": "requests", "param": None,
                           "code": "rate_limit_exceeded"}}
        return await self._send(writer, "429 Too Many Requests", "application/json", json.dumps(error).encode())

    async def _status_502_html(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
        return await self._send(writer, "502 Bad Gateway", "text/html", page)

    async def _broken_first_event(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        await self._stream(writer, [b"data: {not json\n\n", b"data: [DONE]\n\n"])
        writer.write(b"0\r\n\r\n")
        return True

    async def _broken_mid_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        events = self._events(model, True)
        await self._stream(writer, [*events[:3], b"data: {not json\n\n", *events[3:], b"data: [DONE]\n\n"],
                           pause=0.02)
        writer.write(b"0\r\n\r\n")
        return True

    async def _odd_created(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        events = [_delta(model, {"role": "assistant", "content": ""}, created="abc")]
        events += [_delta(model, {"content": piece}, created="abc") for piece in PIECES]
        events += [_delta(model, {}, "stop", created="abc"), b"data: [DONE]\n\n"]
        await self._stream(writer, events)
        writer.write(b"0\r\n\r\n")
        return True

    async def _huge_chunk(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        events = [_delta(model, {"role": "assistant", "content": ""}), _delta(model, {"content": "x" * 2_000_000}),
                  _delta(model, {}, "stop"), b"data: [DONE]\n\n"]
        await self._stream(writer, events)
        writer.write(b"0\r\n\r\n")
        return True

    async def _error_in_200_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        error = {"error": {"message": "The server had an error while processing your request.", "type": "server_error",
                           "param": None, "code": None}}
        await self._stream(writer, [_chunk(error)])
        writer.write(b"0\r\n\r\n")
        return True

    async def _slow_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], model: str) -> bool:
        async def hold(index: int) -> None:
            if index == 2:
                await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)

        await self._stream(writer, [*self._events(model, True), b"data: [DONE]\n\n"], between=hold)
        writer.write(b"0\r\n\r\n")
        return True
