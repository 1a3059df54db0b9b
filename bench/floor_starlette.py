"""A second reference: a bare pass-through proxy on Starlette and one pooled httpx2 client (the previous floor).

It forwards the request bytes and relays the answer chunk by chunk, and does nothing else: no auth,
no parsing, no billing. It shows what the framework and the httpx family cost next to the real floor
(bench/floor.py). Run it with `python -m bench.floor_starlette --port N --upstream http://127.0.0.1:M`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

_FORWARDED = ("content-type", "authorization", "accept")
# httpx2 is what Tollway uses (httpx's API with a reworked connection pool); httpx 0.28 is kept for comparison.
CLIENT_LIBRARIES = ("httpx", "httpx2")


def pooled_client(library: str = "httpx2") -> Any:
    """One client with the pool limits Tollway's upstream client has (tollway/services.py), from `library`."""
    http = importlib.import_module(library)
    return http.AsyncClient(
        timeout=http.Timeout(None, connect=15.0),
        limits=http.Limits(max_connections=None, max_keepalive_connections=512, keepalive_expiry=60),
        follow_redirects=False,
    )


def create_app(upstream: str, *, stream_all: bool = False, library: str = "httpx2") -> Starlette:
    """The proxy app; `stream_all` relays JSON answers through StreamingResponse too, instead of reading them whole."""
    base = upstream.rstrip("/")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = pooled_client(library)
        try:
            yield
        finally:
            await app.state.client.aclose()

    async def proxy(request: Request) -> Response:
        client = request.app.state.client
        headers = {name: value for name in _FORWARDED if (value := request.headers.get(name)) is not None}
        outgoing = client.build_request(request.method, base + request.url.path, headers=headers,
                                        content=await request.body())
        answer = await client.send(outgoing, stream=True)
        media_type = answer.headers.get("content-type")
        if stream_all or (media_type or "").startswith("text/event-stream"):
            return StreamingResponse(answer.aiter_bytes(), status_code=answer.status_code, media_type=media_type,
                                     background=BackgroundTask(answer.aclose))
        # A whole JSON answer is read and sent in one piece, as Tollway does: the cheapest way on this stack.
        try:
            content = await answer.aread()
        finally:
            await answer.aclose()
        return Response(content, status_code=answer.status_code, media_type=media_type)

    return Starlette(routes=[Route("/v1/{path:path}", proxy, methods=["GET", "POST"])], lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    """Serve the floor proxy on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor_starlette", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:9000")
    parser.add_argument("--stream-all", action="store_true", help="relay JSON answers with StreamingResponse too")
    parser.add_argument("--client", choices=CLIENT_LIBRARIES, default="httpx2", help="HTTP client library")
    args = parser.parse_args(argv)
    app = create_app(args.upstream, stream_all=args.stream_all, library=args.client)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
