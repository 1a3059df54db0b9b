"""A mock DashScope (Alibaba Qwen native API): a real HTTP server with DashScope's wire format and quirks.

Quirks reproduced (reference §6): `id:` / `event:result` / `:HTTP_STATUS/200` / `data:{json}` framing without a
space, `finish_reason` the string "null" while generating, cumulative usage in every chunk, no `[DONE]`,
cumulative text when `incremental_output` is false, tool-call fragments whose later ids are "", "stop" after a
tool call, stream errors sent with HTTP 200 as `event:error` + `:HTTP_STATUS/400`, Qwen-VL content lists,
asynchronous image tasks. It checks the Bearer key, `top_p < 1` and the async header as DashScope does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.openai_mock import Recorded

KEY = "sk-ali-test"
TOOL_ARGUMENTS = ['{"location": "', '浙江省杭州市"}']


@dataclass
class Plan:
    """How the mock answers one model."""

    pieces: list[str] = field(default_factory=lambda: ["1", "+1", " 等于", " 2", "。"])
    prompt_tokens: int = 8
    tool_call: bool = False
    # A DashScope error: whole answers get it with `status`, streams as their first event (with HTTP 200).
    error: tuple[int, str, str] | None = None
    error_after: int | None = None  # stream: an error event after this many content chunks
    gate: threading.Event | None = None  # stream: hold after the first content chunk until set
    # Image tasks: polls answered PENDING/RUNNING before the end, and how the task ends.
    polls: int = 2
    task_error: tuple[str, str] | None = None


def _request_id() -> str:
    return str(uuid.uuid4())


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "request_id": _request_id()}, status_code=status)


class AliMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.tasks: dict[str, dict[str, Any]] = {}

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.tasks.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/v1/services/aigc/text-generation/generation", self.text, methods=["POST"]),
            Route("/api/v1/services/aigc/multimodal-generation/generation", self.vision, methods=["POST"]),
            Route("/api/v1/services/embeddings/text-embedding/text-embedding", self.embeddings, methods=["POST"]),
            Route("/api/v1/services/aigc/text2image/image-synthesis", self.image, methods=["POST"]),
            Route("/api/v1/tasks/{task_id}", self.task, methods=["GET"]),
        ])

    async def _record(self, request: Request) -> tuple[Any, Response | None]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, body))
        if headers.get("authorization") != f"Bearer {KEY}":
            return None, _error(401, "InvalidApiKey", "Invalid API-key provided.")
        return (json.loads(body) if body else None), None

    # -- generation ----------------------------------------------------------------------------------------

    async def text(self, request: Request) -> Response:
        return await self._generation(request, vision=False)

    async def vision(self, request: Request) -> Response:
        return await self._generation(request, vision=True)

    async def _generation(self, request: Request, *, vision: bool) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        parameters = body.get("parameters") or {}
        if parameters.get("top_p", 0) >= 1:
            return _error(400, "InvalidParameter", "Range of top_p should be (0.0, 1.0)")
        for message in body["input"]["messages"]:
            if message["role"] not in ("system", "user", "assistant", "tool"):
                return _error(400, "InvalidParameter", "Role must be user or assistant and Content length must be "
                                                       "greater than 0")
        plan = self.plans.get(body["model"], Plan())
        stream = (request.headers.get("x-dashscope-sse") == "enable"
                  or "text/event-stream" in request.headers.get("accept", ""))
        if stream:
            return StreamingResponse(self._stream(plan, parameters, vision),
                                     media_type="text/event-stream;charset=UTF-8")
        if plan.error:
            return _error(*plan.error)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.pieces)}
        if plan.tool_call:
            message = {"role": "assistant", "content": "", "tool_calls": [{
                "function": {"name": "get_current_weather", "arguments": "".join(TOOL_ARGUMENTS)}, "index": 0,
                "id": "call_cec4c19d27624537b583af", "type": "function"}]}
        elif vision:
            message["content"] = [{"text": message["content"]}]
        completion = 0 if plan.tool_call else len(plan.pieces)
        return JSONResponse({
            # DashScope reports "stop" even after a tool call.
            "output": {"choices": [{"finish_reason": "stop", "message": message}]},
            "usage": {"total_tokens": plan.prompt_tokens + completion, "output_tokens": completion,
                      "input_tokens": plan.prompt_tokens},
            "request_id": _request_id(),
        })

    async def _stream(self, plan: Plan, parameters: dict[str, Any], vision: bool) -> AsyncIterator[bytes]:
        request_id = _request_id()
        incremental = parameters.get("incremental_output") is True
        sent = 0

        def event(data: dict[str, Any], *, kind: str = "result", status: int = 200) -> bytes:
            nonlocal sent
            sent += 1
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            return f"id:{sent}\nevent:{kind}\n:HTTP_STATUS/{status}\ndata:{text}\n\n".encode()

        def error(status: int, code: str, message: str) -> bytes:
            return event({"code": code, "message": message, "request_id": request_id}, kind="error", status=status)

        def result(message: dict[str, Any], finish: str, output_tokens: int) -> bytes:
            return event({"output": {"choices": [{"message": message, "finish_reason": finish}]},
                          "usage": {"total_tokens": plan.prompt_tokens + output_tokens,
                                    "input_tokens": plan.prompt_tokens, "output_tokens": output_tokens},
                          "request_id": request_id})

        if plan.error:
            yield error(*plan.error)
            return
        if plan.tool_call:
            for index, part in enumerate(TOOL_ARGUMENTS):
                call: dict[str, Any] = {"index": 0, "id": "", "type": "function", "function": {"arguments": part}}
                if index == 0:
                    call = {"index": 0, "id": "call_29a870e7106f45deb8add3", "type": "function",
                            "function": {"name": "get_current_weather", "arguments": part}}
                yield result({"content": "", "tool_calls": [call], "role": "assistant"}, "null", 8 + index)
            yield result({"content": "", "role": "assistant"}, "stop", 10)
            return
        text = ""
        for count, piece in enumerate(plan.pieces, start=1):
            if plan.error_after is not None and count > plan.error_after:
                yield error(500, "InternalError.Algo", "An internal error has occured during execution")
                return
            text += piece
            content: Any = piece if incremental else text
            if vision:
                content = [{"text": content}]
            yield result({"content": content, "role": "assistant"}, "null", count)
            if plan.gate is not None and count == 1:
                await asyncio.to_thread(plan.gate.wait, 10)
        last: Any = "" if incremental else text
        yield result({"content": [{"text": last}] if vision else last, "role": "assistant"}, "stop",
                     len(plan.pieces))

    # -- embeddings and images -----------------------------------------------------------------------------

    async def embeddings(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        texts = body["input"]["texts"]
        if not texts or not all(isinstance(text, str) and text for text in texts):
            return _error(400, "InvalidParameter", "input.texts should be a non-empty list of strings")
        return JSONResponse({
            "output": {"embeddings": [{"embedding": [0.25, -0.5, 0.125 * i], "text_index": i}
                                      for i, _ in enumerate(texts)]},
            "usage": {"total_tokens": sum(len(text) for text in texts)},
            "request_id": _request_id(),
        })

    async def image(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        if request.headers.get("x-dashscope-async") != "enable":
            return _error(403, "AccessDenied", "current user api does not support synchronous calls")
        task_id = str(uuid.uuid4())
        plan = self.plans.get(body["model"], Plan())
        self.tasks[task_id] = {"plan": plan, "polls": 0, "n": body["parameters"].get("n", 1)}
        return JSONResponse({"output": {"task_status": "PENDING", "task_id": task_id}, "request_id": _request_id()})

    async def task(self, request: Request) -> Response:
        _, refused = await self._record(request)
        if refused:
            return refused
        task_id = request.path_params["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            return JSONResponse({"output": {"task_id": task_id, "task_status": "UNKNOWN"},
                                 "request_id": _request_id()})
        task["polls"] += 1
        plan: Plan = task["plan"]
        if task["polls"] <= plan.polls:
            state = "PENDING" if task["polls"] == 1 else "RUNNING"
            return JSONResponse({"output": {"task_id": task_id, "task_status": state}, "request_id": _request_id()})
        if plan.task_error:
            code, message = plan.task_error
            return JSONResponse({"output": {"task_id": task_id, "task_status": "FAILED", "code": code,
                                            "message": message}, "request_id": _request_id()})
        n = task["n"]
        return JSONResponse({
            "output": {"task_id": task_id, "task_status": "SUCCEEDED",
                       "results": [{"url": f"https://dashscope-result.example/{task_id}/{i}.png"} for i in range(n)],
                       "task_metrics": {"TOTAL": n, "SUCCEEDED": n, "FAILED": 0}},
            "usage": {"image_count": n}, "request_id": _request_id(),
        })
