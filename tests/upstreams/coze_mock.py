"""A mock Coze API: v3 chat (streamed events, or an asynchronous chat to poll and list) and the legacy v2 chat.

Quirks reproduced (reference §9): `event:`/`data:` lines without a space, `message.completed` repeating the whole
text, non-answer messages (verbose, follow_up), usage only on `conversation.chat.completed`, `event:done` with
`data:"[DONE]"`, failures as `conversation.chat.failed` or `event:error`, errors sent with HTTP 200 as
`{"code": …, "msg": …}`, and v2 streams in both forms (event inside the JSON, or on an `event:` line).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.openai_mock import Recorded

KEY = "pat_mock_token"
BOT = "7379462189365198898"
CONVERSATION = "7381473525342978089"


@dataclass
class Plan:
    """How the mock answers one bot."""

    pieces: list[str] = field(default_factory=lambda: ["2024 年", " 10 月 1 日", "是星期三。"])
    input_count: int = 614
    error: tuple[int, str] | None = None  # `{"code", "msg"}` with HTTP 200 instead of an answer
    failed: tuple[int, str] | None = None  # the chat fails: a `chat.failed` event, or a failed poll
    stream_error_after: int | None = None  # v3 stream: `event:error` after this many deltas
    polls: int = 2  # whole v3 answers: polls answered in_progress before completed
    v2_event_lines: bool = False  # v2 stream: `event:message` lines and no event in the JSON
    gate: threading.Event | None = None  # hold after the first delta until set


def _sse(event: str, data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event:{event}\ndata:{text}\n\n".encode()


class CozeMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.chats: dict[str, dict[str, Any]] = {}
        self.counter = 7382159487131697202

    def plan(self, bot: str, **kwargs: Any) -> Plan:
        self.plans[bot] = Plan(**kwargs)
        return self.plans[bot]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.chats.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v3/chat", self.v3_chat, methods=["POST"]),
            Route("/v3/chat/retrieve", self.v3_retrieve, methods=["GET"]),
            Route("/v3/chat/message/list", self.v3_messages, methods=["GET"]),
            Route("/open_api/v2/chat", self.v2_chat, methods=["POST"]),
        ])

    async def _record(self, request: Request) -> tuple[Any, Response | None]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, body))
        if headers.get("authorization") != f"Bearer {KEY}":
            return None, JSONResponse({"code": 4100, "msg": "authentication is invalid"})
        return (json.loads(body) if body else None), None

    def _plan(self, bot: str) -> Plan:
        return self.plans.get(bot, Plan())

    def _chat(self, bot: str, status: str, usage: dict[str, int] | None = None,
              error: tuple[int, str] = (0, "")) -> dict[str, Any]:
        self.counter += 1
        return {"id": str(self.counter), "conversation_id": CONVERSATION, "bot_id": bot, "created_at": int(time.time()),
                "last_error": {"code": error[0], "msg": error[1]}, "status": status,
                "usage": usage or {"token_count": 0, "output_count": 0, "input_count": 0}}

    @staticmethod
    def _usage(plan: Plan) -> dict[str, int]:
        output = len(plan.pieces)
        return {"token_count": plan.input_count + output, "output_count": output, "input_count": plan.input_count}

    # -- v3 ------------------------------------------------------------------------------------------------

    async def v3_chat(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        if not body.get("user_id") or not body.get("additional_messages"):
            return JSONResponse({"code": 4000, "msg": "user_id and additional_messages are required"})
        plan = self._plan(body["bot_id"])
        if plan.error:
            return JSONResponse({"code": plan.error[0], "msg": plan.error[1]})
        if body.get("stream"):
            return StreamingResponse(self._v3_stream(body["bot_id"], plan), media_type="text/event-stream")
        if body.get("auto_save_history") is not True:
            return JSONResponse({"code": 4000, "msg": "auto_save_history must be true for non-streaming chats"})
        chat = self._chat(body["bot_id"], "in_progress")
        self.chats[chat["id"]] = {"chat": chat, "plan": plan, "polls": 0}
        return JSONResponse({"code": 0, "msg": "", "data": chat})

    async def _v3_stream(self, bot: str, plan: Plan) -> AsyncIterator[bytes]:
        chat = self._chat(bot, "created")
        yield _sse("conversation.chat.created", chat)
        yield _sse("conversation.chat.in_progress", {**chat, "status": "in_progress"})
        if plan.failed:
            yield _sse("conversation.chat.failed", {**chat, "status": "failed",
                                                     "last_error": {"code": plan.failed[0], "msg": plan.failed[1]}})
            return
        message = {"id": "7382159494123470858", "conversation_id": CONVERSATION, "bot_id": bot, "role": "assistant",
                   "type": "answer", "content_type": "text", "chat_id": chat["id"]}
        for sent, piece in enumerate(plan.pieces):
            if plan.stream_error_after is not None and sent >= plan.stream_error_after:
                yield _sse("error", {})
                return
            yield _sse("conversation.message.delta", {**message, "content": piece})
            if plan.gate is not None and sent == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        yield _sse("conversation.message.completed", {**message, "content": "".join(plan.pieces)})
        yield _sse("conversation.message.completed", {**message, "type": "verbose", "content": "{\"msg_type\":"
                                                                                               "\"generate_answer_finish\"}"})
        yield _sse("conversation.message.completed", {**message, "type": "follow_up", "content": "明天呢？"})
        yield _sse("conversation.chat.completed", {**chat, "status": "completed", "usage": self._usage(plan)})
        yield _sse("done", '"[DONE]"')

    async def v3_retrieve(self, request: Request) -> Response:
        _, refused = await self._record(request)
        if refused:
            return refused
        entry = self.chats.get(request.query_params.get("chat_id", ""))
        if entry is None or request.query_params.get("conversation_id") != CONVERSATION:
            return JSONResponse({"code": 4000, "msg": "chat not found"})
        entry["polls"] += 1
        chat, plan = entry["chat"], entry["plan"]
        if entry["polls"] <= plan.polls:
            return JSONResponse({"code": 0, "msg": "", "data": chat})
        if plan.failed:
            failed = {**chat, "status": "failed", "last_error": {"code": plan.failed[0], "msg": plan.failed[1]}}
            return JSONResponse({"code": 0, "msg": "", "data": failed})
        entry["completed"] = True
        return JSONResponse({"code": 0, "msg": "", "data": {**chat, "status": "completed",
                                                            "usage": self._usage(plan)}})

    async def v3_messages(self, request: Request) -> Response:
        _, refused = await self._record(request)
        if refused:
            return refused
        entry = self.chats.get(request.query_params.get("chat_id", ""))
        if entry is None or not entry.get("completed"):
            return JSONResponse({"code": 4000, "msg": "chat is not completed"})
        chat, plan = entry["chat"], entry["plan"]
        base = {"bot_id": chat["bot_id"], "chat_id": chat["id"], "conversation_id": CONVERSATION, "role": "assistant",
                "content_type": "text"}
        return JSONResponse({"code": 0, "msg": "", "data": [
            {**base, "id": "1", "type": "answer", "content": "".join(plan.pieces)},
            {**base, "id": "2", "type": "verbose", "content": "{\"msg_type\":\"generate_answer_finish\"}"},
            {**base, "id": "3", "type": "follow_up", "content": "明天呢？"},
        ]})

    # -- v2 ------------------------------------------------------------------------------------------------

    async def v2_chat(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        if not body.get("query") or not body.get("user"):
            return JSONResponse({"code": 4000, "msg": "query and user are required"})
        plan = self._plan(body["bot_id"])
        if plan.error:
            return JSONResponse({"code": plan.error[0], "msg": plan.error[1]})
        if body.get("stream"):
            return StreamingResponse(self._v2_stream(plan), media_type="text/event-stream")
        return JSONResponse({"messages": [
            {"role": "assistant", "type": "answer", "content": "".join(plan.pieces), "content_type": "text"},
            {"role": "assistant", "type": "follow_up", "content": "明天呢？", "content_type": "text"},
        ], "conversation_id": "123", "code": 0, "msg": "success"})

    async def _v2_stream(self, plan: Plan) -> AsyncIterator[bytes]:
        for seq, piece in enumerate(plan.pieces):
            message = {"message": {"role": "assistant", "type": "answer", "content": piece, "content_type": "text"},
                       "is_finish": False, "index": 0, "conversation_id": "123", "seq_id": seq}
            if plan.v2_event_lines:
                yield f"event:message\ndata:{json.dumps(message, ensure_ascii=False)}\n\n".encode()
            else:
                yield f"data:{json.dumps({'event': 'message', **message}, ensure_ascii=False)}\n\n".encode()
            if plan.gate is not None and seq == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        yield b"event:done\ndata:\n\n" if plan.v2_event_lines else b'data:{"event":"done"}\n\n'
