"""A mock AI Proxy knowledge-base API: `POST /api/library/ask` (One API's `relay/adaptor/aiproxy` structs).

Quirks kept: failures come back with HTTP 200 as `{"success": false, "message", "errCode"}` (a bad key,
an unknown library); the stream is `data:` lines without a space, each `{"content","finish","model"}`,
and the last one (`finish: true`) carries the reference documents.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.openai_mock import Recorded

KEY = "ap-mock-key"
LIBRARY = "lib-7f3a"
DOCUMENTS = [{"title": "Installing Tollway", "url": "https://docs.example/install"},
             {"title": "Channels", "url": "https://docs.example/channels"}]


@dataclass
class Plan:
    pieces: list[str] = field(default_factory=lambda: ["Run ", "`tollway serve`", "."])
    documents: list[dict[str, str]] = field(default_factory=lambda: list(DOCUMENTS))
    gate: threading.Event | None = None


class AIProxyMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self.plan = Plan()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/library/ask", self.ask, methods=["POST"])])

    async def ask(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, raw))
        if headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"success": False, "message": "Key 无效 (invalid key)", "errCode": 401})
        body: dict[str, Any] = json.loads(raw)
        if body.get("libraryId") != LIBRARY:
            return JSONResponse({"success": False, "message": "知识库不存在 (library not found)", "errCode": 404})
        plan = self.plan
        if not body.get("stream"):
            return JSONResponse({"success": True, "answer": "".join(plan.pieces), "documents": plan.documents,
                                 "errCode": 0, "message": ""})

        async def events() -> AsyncIterator[bytes]:
            for index, piece in enumerate(plan.pieces):
                yield b"data:" + json.dumps({"content": piece, "finish": False, "model": body["model"]}).encode() \
                    + b"\n\n"
                if index == 0 and plan.gate is not None:
                    await asyncio.to_thread(plan.gate.wait, 10)
            yield b"data:" + json.dumps({"content": "", "finish": True, "model": body["model"],
                                         "documents": plan.documents}).encode() + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
