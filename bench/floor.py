"""The floor: the thinnest Python pass-through proxy there is, the reference every Tollway figure is divided by.

A raw ASGI callable (no framework) on uvicorn with httptools and uvloop, one worker, and one
`aiohttp.ClientSession(connector=TCPConnector(limit=0))` made once. Per request it reads the body,
compares the `Authorization` header with one fixed key, parses the body once with orjson, POSTs the
bytes upstream and relays the answer with `content.iter_any()`, one ASGI body message per chunk.
Run it with `python -m bench.floor --port N --upstream http://127.0.0.1:M`.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import orjson
import uvicorn

KEY = b"Bearer sk-floor"  # the one key the floor accepts
_UNAUTHORIZED = b'{"error":{"message":"invalid key","type":"invalid_request_error","param":null,"code":null}}'
_BAD_BODY = b'{"error":{"message":"bad body","type":"invalid_request_error","param":null,"code":null}}'


class Floor:
    """The proxy as an ASGI callable; the session opens at lifespan startup and closes at shutdown."""

    def __init__(self, upstream: str) -> None:
        self.base = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        message = await receive()
        body: bytes = message.get("body", b"")
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
                break
        if authorization != KEY:
            await _answer(send, 401, _UNAUTHORIZED)
            return
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            await _answer(send, 400, _BAD_BODY)
            return
        assert self.session is not None
        async with self.session.post(self.base + scope["path"], data=body,
                                     headers={"Content-Type": "application/json"}) as answer:
            media_type = answer.headers.get("Content-Type", "application/json").encode()
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": [(b"content-type", media_type)]})
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    """Serve the floor proxy on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:9000")
    args = parser.parse_args(argv)
    uvicorn.run(Floor(args.upstream), host=args.host, port=args.port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
