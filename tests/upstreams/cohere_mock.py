"""A mock Cohere v1 chat API (`POST /v1/chat`): a real HTTP server speaking its wire format, with its quirks.

It checks the Bearer key (401 `{"message": "invalid api token"}`), the body as Cohere validates it (a
`message` unless tool results are given, chat_history roles, p within [0.01, 0.99]), and streams JSON lines
(`application/stream+json`, one `event_type` object per line, no SSE framing and no [DONE]).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "co-mock-key"
_ROLES = {"USER", "CHATBOT", "SYSTEM", "TOOL"}


@dataclass
class CoherePlan:
    """How the mock answers one model."""

    status: int = 200
    message: str = "mock failure"
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " Cohere", "."])
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "parameters"}]
    tool_chunks: bool = True  # stream tool calls as tool-calls-chunk deltas before tool-calls-generation
    finish: str = "COMPLETE"
    input_tokens: int = 6  # billed_units; `tokens` adds Cohere's prompt template
    error_finish_after: int | None = None  # stream: end with finish_reason ERROR (HTTP 200) after this many pieces
    gate: threading.Event | None = None


@dataclass
class CohereMock:
    """State shared between the test thread and the server thread."""

    plans: dict[str, CoherePlan] = field(default_factory=dict)
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    def plan(self, model: str, **kwargs: Any) -> CoherePlan:
        self.plans[model] = CoherePlan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat", self.chat, methods=["POST"])])

    @staticmethod
    def check(body: dict[str, Any]) -> str:
        """What Cohere would refuse in a v1 chat body, or "" when it is fine."""
        if not isinstance(body.get("message"), str):
            return "invalid request: message must be a string"
        if not body["message"] and not body.get("tool_results"):
            return "invalid request: message must be at least 1 token long or tool results must be specified."
        for entry in body.get("chat_history") or ():
            if entry.get("role") not in _ROLES:
                return f"invalid request: chat_history role {entry.get('role')!r} is not one of {sorted(_ROLES)}"
        if "p" in body and not 0.01 <= body["p"] <= 0.99:
            return "invalid request: p must be between 0.01 and 0.99, inclusive."
        for tool in body.get("tools") or ():
            for name, spec in (tool.get("parameter_definitions") or {}).items():
                if not isinstance(spec.get("type"), str):
                    return f"invalid request: parameter {name} needs a type"
        return ""

    async def chat(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            return JSONResponse({"message": "invalid request: body is not valid JSON"}, status_code=400)
        self.requests.append((headers, body))
        if headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"message": "invalid api token"}, status_code=401)
        problem = self.check(body)
        if problem:
            return JSONResponse({"message": problem}, status_code=400)
        model = body.get("model") or "command-r"
        plan = self.plans.get(model, CoherePlan())
        if plan.status >= 400:
            return JSONResponse({"message": plan.message}, status_code=plan.status)
        if body.get("stream"):
            return StreamingResponse(self.stream(plan, body), media_type="application/stream+json")
        return JSONResponse(self.response(plan, body, "".join(plan.pieces)))

    @staticmethod
    def response(plan: CoherePlan, body: dict[str, Any], text: str, finish: str = "") -> dict[str, Any]:
        output = len(plan.pieces)
        answer: dict[str, Any] = {
            "response_id": "a1b2c3d4-resp", "text": text, "generation_id": "e5f6-gen",
            "chat_history": [*(body.get("chat_history") or []), {"role": "USER", "message": body["message"]},
                             {"role": "CHATBOT", "message": text}],
            "finish_reason": finish or plan.finish,
            "meta": {"api_version": {"version": "1"},
                     "billed_units": {"input_tokens": plan.input_tokens, "output_tokens": output},
                     "tokens": {"input_tokens": plan.input_tokens + 60, "output_tokens": output}},
        }
        if plan.tool_calls:
            answer["tool_calls"] = plan.tool_calls
        return answer

    async def stream(self, plan: CoherePlan, body: dict[str, Any]) -> Any:
        def line(data: dict[str, Any]) -> bytes:
            return json.dumps(data).encode() + b"\n"

        yield line({"is_finished": False, "event_type": "stream-start", "generation_id": "e5f6-gen"})
        for sent, piece in enumerate(plan.pieces):
            if plan.error_finish_after is not None and sent >= plan.error_finish_after:
                yield line({"is_finished": True, "event_type": "stream-end", "finish_reason": "ERROR",
                            "response": self.response(plan, body, "".join(plan.pieces[:sent]), "ERROR")})
                return
            yield line({"is_finished": False, "event_type": "text-generation", "text": piece})
            if plan.gate is not None and sent == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        if plan.tool_calls and plan.tool_chunks:
            for index, call in enumerate(plan.tool_calls):
                yield line({"is_finished": False, "event_type": "tool-calls-chunk",
                            "tool_call_delta": {"index": index, "name": call["name"]}})
                arguments = json.dumps(call["parameters"])
                for start in range(0, len(arguments), 5):
                    yield line({"is_finished": False, "event_type": "tool-calls-chunk",
                                "tool_call_delta": {"index": index, "parameters": arguments[start:start + 5]}})
        if plan.tool_calls:
            yield line({"is_finished": False, "event_type": "tool-calls-generation", "text": "".join(plan.pieces),
                        "tool_calls": plan.tool_calls})
        yield line({"is_finished": True, "event_type": "stream-end", "finish_reason": plan.finish,
                    "response": self.response(plan, body, "".join(plan.pieces), plan.finish)})

