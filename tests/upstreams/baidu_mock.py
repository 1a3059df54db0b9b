"""A mock Baidu wenxinworkshop upstream: OAuth token exchange, chat (whole and `data:` stream), embeddings.

It checks what Baidu checks: the client id and secret of the token exchange, the `?access_token=` of every
call (answering `error_code` 110 with HTTP 200 otherwise), and that messages alternate user/assistant with
an odd count. Plans per endpoint set pieces, errors, function calls and a gate for incremental tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Plan:
    """How the mock answers one chat endpoint."""

    pieces: list[str] = field(default_factory=lambda: ["你好", "，我是", "文心一言", "。"])
    prompt_tokens: int = 14
    error_code: int | None = None  # answer this error (HTTP 200, plain JSON even for streams)
    error_msg: str = "mock failure"
    error_after: int | None = None  # in streams: send this error after that many chunks
    function_call: dict[str, str] | None = None
    gate: threading.Event | None = None  # hold the stream after its first chunk until set


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class BaiduMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.clients: dict[str, str] = {"ak-good": "sk-good"}
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self.tokens.clear()
        self.token_calls = 0
        self.plans.clear()
        self.requests.clear()

    def plan(self, endpoint: str, **kwargs: Any) -> Plan:
        self.plans[endpoint] = Plan(**kwargs)
        return self.plans[endpoint]

    def app(self) -> Starlette:
        root = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
        return Starlette(routes=[
            Route("/oauth/2.0/token", self.token, methods=["POST"]),
            Route(root + "/chat/{endpoint}", self.chat, methods=["POST"]),
            Route(root + "/embeddings/{endpoint}", self.embeddings, methods=["POST"]),
        ])

    async def token(self, request: Request) -> Response:
        self.token_calls += 1
        query = request.query_params
        if query.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "unsupported grant type"}, status_code=400)
        if self.clients.get(query.get("client_id", "")) != query.get("client_secret"):
            return JSONResponse({"error": "invalid_client", "error_description": "unknown client id"},
                                status_code=401)
        token = f"24.{uuid.uuid4().hex}.2592000.{int(time.time())}.282335-37780661"
        self.tokens.add(token)
        return JSONResponse({"refresh_token": "25.refresh", "expires_in": 2592000, "session_key": "s",
                             "access_token": token, "scope": "public brain_all_scope wenxinworkshop_mgr",
                             "session_secret": "x"})

    async def _record(self, request: Request) -> tuple[Any, Response | None]:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(request.url.path, dict(request.query_params),
                                      {k.lower(): v for k, v in request.headers.items()}, body))
        if request.query_params.get("access_token") not in self.tokens:
            return body, _error(110, "Access token invalid or no longer valid")
        return body, None

    async def chat(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        problem = _check_messages(body.get("messages"))
        if problem:
            return _error(336003, problem)
        plan = self.plans.get(request.path_params["endpoint"], Plan())
        if plan.error_code is not None and plan.error_after is None:
            return _error(plan.error_code, plan.error_msg)
        created = int(time.time())
        if not body.get("stream"):
            answer: dict[str, Any] = {
                "id": "as-mock1", "object": "chat.completion", "created": created, "result": "".join(plan.pieces),
                "is_truncated": False, "need_clear_history": False, "finish_reason": "normal",
                "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": len(plan.pieces),
                          "total_tokens": plan.prompt_tokens + len(plan.pieces)}}
            if plan.function_call:
                answer.update(result="", finish_reason="function_call",
                              function_call={**plan.function_call, "thoughts": "the user asks for weather"})
            return JSONResponse(answer)
        return StreamingResponse(self._stream(plan, created), media_type="text/event-stream")

    async def _stream(self, plan: Plan, created: int) -> Any:
        pieces = [""] if plan.function_call else plan.pieces
        total = plan.prompt_tokens
        for index, piece in enumerate([*pieces, ""]):
            if plan.error_after is not None and index == plan.error_after:
                yield f"data: {json.dumps({'error_code': plan.error_code, 'error_msg': plan.error_msg})}\n\n".encode()
                return
            end = index == len(pieces)
            # Per-chunk completion count, cumulative total: the usage quirk the gateway must undo.
            step = 0 if end else 2
            total += step
            chunk: dict[str, Any] = {
                "id": "as-mock2", "object": "chat.completion", "created": created, "sentence_id": index,
                "is_end": end, "is_truncated": False, "result": piece, "need_clear_history": False,
                "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": step, "total_tokens": total}}
            if plan.function_call and index == 0:
                chunk["function_call"] = {**plan.function_call, "thoughts": "need the weather"}
            if end:
                chunk["finish_reason"] = "function_call" if plan.function_call else "normal"
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
            if plan.gate is not None and index == 0:
                await asyncio.to_thread(plan.gate.wait, 10)

    async def embeddings(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        inputs = body.get("input")
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            return _error(336003, "input must be a list of strings")
        return JSONResponse({"id": "as-emb", "object": "embedding_list", "created": int(time.time()),
                             "data": [{"object": "embedding", "embedding": [0.25, -0.5, float(i)], "index": i}
                                      for i, _ in enumerate(inputs)],
                             "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})


def _error(code: int, message: str) -> Response:
    return JSONResponse({"error_code": code, "error_msg": message})


def _check_messages(messages: Any) -> str:
    """Baidu's rule: an odd number of turns, user first and last, user and assistant alternating."""
    if not isinstance(messages, list) or len(messages) % 2 == 0:
        return "the length of messages must be an odd number"
    for index, message in enumerate(messages):
        expected = ("user", "function") if index % 2 == 0 else ("assistant",)
        if message.get("role") not in expected:
            return f"the role of message with even/odd index in the messages must be user or assistant ({index})"
        if not isinstance(message.get("content"), str):
            return "message content must be a string"
    return ""
