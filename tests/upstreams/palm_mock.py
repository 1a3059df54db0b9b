"""A mock of Google's retired PaLM 2 chat API (`v1beta2 … chat-bison-001:generateMessage`), as One API used it.

It checks the API key (`x-goog-api-key` or `?key=`) and the message shape, answers Google RPC errors, and
can filter a conversation the way PaLM did (`filters` and no candidates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstreams.gemini_mock import rpc

KEY = "AIza-palm-key"


@dataclass
class PaLMPlan:
    """How the mock answers the next requests."""

    status: int = 200
    rpc_status: str = "INTERNAL"
    message: str = "mock failure"
    reply: str = "Hello from PaLM."
    filtered: bool = False


@dataclass
class PaLMMock:
    """State shared between the test thread and the server thread."""

    plan: PaLMPlan = field(default_factory=PaLMPlan)
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.plan = PaLMPlan()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1beta2/models/chat-bison-001:generateMessage", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            return rpc(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        self.requests.append((headers, body))
        if (headers.get("x-goog-api-key") or request.query_params.get("key")) != KEY:
            return rpc(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
        messages = (body.get("prompt") or {}).get("messages")
        if not isinstance(messages, list) or not messages:
            return rpc(400, "INVALID_ARGUMENT", "* GenerateMessageRequest.prompt.messages: messages is not specified")
        if any(m.get("author") not in ("0", "1") or not isinstance(m.get("content"), str) for m in messages):
            return rpc(400, "INVALID_ARGUMENT", "each message needs an author and a content string")
        for name in ("temperature", "topP"):
            if name in body and not 0 <= body[name] <= 1:
                return rpc(400, "INVALID_ARGUMENT", f"{name} must be in [0, 1]")
        if self.plan.status >= 400:
            return rpc(self.plan.status, self.plan.rpc_status, self.plan.message)
        if self.plan.filtered:
            return JSONResponse({"messages": messages, "filters": [{"reason": "OTHER"}]})
        count = body.get("candidateCount") or 1
        return JSONResponse({"candidates": [{"author": "1", "content": self.plan.reply} for _ in range(count)],
                             "messages": messages})
