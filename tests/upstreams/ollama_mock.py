"""A mock Ollama server: /api/chat and /api/generate (NDJSON streams), /api/embed, /api/tags.

Quirks kept from the real server (reference §10): `stream` defaults to true; tool call arguments are
objects and older builds send no call ids; usage is only on the `done` line and `prompt_eval_count`
is missing on a prompt-cache hit; an error inside a stream is an NDJSON line with status 200 already
sent; unknown models are 404 and bad base64 images 400. A Bearer key is checked when one is set (as a
reverse proxy in front of Ollama would).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
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

MODELS = ("llama3.2", "qwen3", "all-minilm", "llava")
CREATED = "2023-08-04T08:52:19.385406455-07:00"


@dataclass
class Plan:
    """How the mock answers one model."""

    pieces: list[str] = field(default_factory=lambda: ["The", " sky", " is", " blue", "."])
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # Ollama's shape: arguments are objects
    done_reason: str = "stop"
    prompt_eval_count: int | None = 26  # None: a prompt-cache hit, the field is left out
    eval_count: int = 282
    error_after: int | None = None  # an error line after this many pieces, HTTP 200 already sent
    status: int = 200  # an error status for the whole request
    error: str = "the model failed to generate a response"
    gate: threading.Event | None = None  # hold the stream after its first piece until the test sets this


class OllamaMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.key: str | None = None  # the Bearer key a proxy in front would require; None: Ollama's no auth

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.key = None

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/image.png", self.image, methods=["GET"]),
        ])

    # -- helpers -------------------------------------------------------------------------------------------

    async def _receive(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, raw))
        if self.key is not None and headers.get("authorization") != f"Bearer {self.key}":
            return {}, JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return {}, JSONResponse({"error": "invalid character 'x' looking for beginning of value"}, status_code=400)
        model = body.get("model", "")
        if model not in MODELS:
            return body, JSONResponse({"error": f'model "{model}" not found, try pulling it first'}, status_code=404)
        plan = self.plans.get(model, Plan())
        if plan.status >= 400:
            return body, JSONResponse({"error": plan.error}, status_code=plan.status)
        return body, None

    @staticmethod
    def _final(model: str, plan: Plan, chat: bool) -> dict[str, Any]:
        final: dict[str, Any] = {"model": model, "created_at": "2023-08-04T19:22:45.499127Z", "done": True,
                                 "done_reason": plan.done_reason, "total_duration": 4883583458,
                                 "load_duration": 1334875, "prompt_eval_duration": 342546000,
                                 "eval_count": plan.eval_count, "eval_duration": 4535599000}
        if plan.prompt_eval_count is not None:
            final["prompt_eval_count"] = plan.prompt_eval_count
        if chat:
            final["message"] = {"role": "assistant", "content": ""}
        else:
            final["response"] = ""
        return final

    async def _lines(self, model: str, plan: Plan, chat: bool) -> AsyncIterator[bytes]:
        def line(data: dict[str, Any]) -> bytes:
            return json.dumps(data).encode() + b"\n"

        for thought in plan.thinking:
            yield line({"model": model, "created_at": CREATED, "done": False,
                        "message": {"role": "assistant", "content": "", "thinking": thought}})
        for sent, piece in enumerate(plan.pieces):
            if plan.error_after is not None and sent == plan.error_after:
                yield line({"error": plan.error})
                return
            body: dict[str, Any] = {"model": model, "created_at": CREATED, "done": False}
            if chat:
                body["message"] = {"role": "assistant", "content": piece}
            else:
                body["response"] = piece
            yield line(body)
            if plan.gate is not None and sent == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        if plan.error_after is not None and plan.error_after >= len(plan.pieces):
            yield line({"error": plan.error})
            return
        if plan.tool_calls:
            yield line({"model": model, "created_at": CREATED, "done": False,
                        "message": {"role": "assistant", "content": "", "tool_calls": plan.tool_calls}})
        yield line(self._final(model, plan, chat))

    # -- endpoints -----------------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused:
            return refused
        for message in body.get("messages") or []:
            for image in message.get("images") or []:
                try:
                    base64.b64decode(image, validate=True)
                except (binascii.Error, ValueError):
                    return JSONResponse({"error": "illegal base64 data at input byte 4"}, status_code=400)
        return self._answer(body, chat=True)

    async def generate(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        return refused or self._answer(body, chat=False)

    def _answer(self, body: dict[str, Any], *, chat: bool) -> Response:
        model = body["model"]
        plan = self.plans.get(model, Plan())
        if body.get("stream", True):  # Ollama streams unless told not to
            return StreamingResponse(self._lines(model, plan, chat), media_type="application/x-ndjson")
        if plan.error_after is not None:
            return JSONResponse({"error": plan.error}, status_code=500)
        whole = self._final(model, plan, chat)
        text = "".join(plan.pieces)
        if chat:
            whole["message"] = {"role": "assistant", "content": text}
            if plan.thinking:
                whole["message"]["thinking"] = "".join(plan.thinking)
            if plan.tool_calls:
                whole["message"]["tool_calls"] = plan.tool_calls
        else:
            whole["response"] = text
        return JSONResponse(whole)

    async def embed(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused:
            return refused
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
            return JSONResponse({"error": "invalid input type"}, status_code=400)
        vectors = [[round(0.01 * (len(text) + i), 6) for i in range(4)] for text in inputs]
        return JSONResponse({"model": body["model"], "embeddings": vectors, "total_duration": 14143917,
                             "load_duration": 1019500, "prompt_eval_count": 4 * len(inputs)})

    async def tags(self, request: Request) -> Response:
        return JSONResponse({"models": [{"name": f"{name}:latest", "model": f"{name}:latest"} for name in MODELS]})

    async def image(self, request: Request) -> Response:
        return Response(base64.b64decode(PNG_1PX), media_type="image/png")


PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII="
