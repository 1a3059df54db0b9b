"""A mock Cloudflare Workers AI account: the OpenAI-compatible `/ai/v1/*` endpoints and the `/ai/run/{model}` task.

Quirks kept from the real API: every path carries the account id; the API token is a Bearer token and a
wrong one is answered with Cloudflare's envelope `{"errors":[{"code":10000,...}],"success":false}` and 403;
unknown models are code 5007 with 400; the OpenAI-compatible stream carries no usage; `/run` wraps its
answer in `{"result":...,"success":true}` and streams `data: {"response":...}` events.
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

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-api-token"
MODELS = ("@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-base-en-v1.5", "@cf/qwen/qwq-32b")


@dataclass
class Plan:
    """How the mock answers one model."""

    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " Workers", " AI", "."])
    status: int = 200
    errors: list[dict[str, Any]] = field(default_factory=list)  # answered with `status`, or as the stream's event
    error_in_stream: bool = False
    gate: threading.Event | None = None


def envelope(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"result": None, "success": False, "errors": errors, "messages": []}


class CloudflareMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def app(self) -> Starlette:
        prefix = "/client/v4/accounts/{account}/ai"
        return Starlette(routes=[
            Route(prefix + "/v1/chat/completions", self.chat, methods=["POST"]),
            Route(prefix + "/v1/embeddings", self.embeddings, methods=["POST"]),
            Route(prefix + "/run/{model:path}", self.run, methods=["POST"]),
        ])

    async def _receive(self, request: Request, model: str = "") -> tuple[dict[str, Any], Plan, Response | None]:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, raw))
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return {}, Plan(), JSONResponse(envelope([{"code": 10000, "message": "Authentication error"}]),
                                            status_code=403)
        if request.path_params["account"] != ACCOUNT:
            message = f"Could not route to /client/v4/accounts/{request.path_params['account']}/ai, perhaps your " \
                      "object identifier is invalid?"
            return {}, Plan(), JSONResponse(envelope([{"code": 7003, "message": message}]), status_code=400)
        body = json.loads(raw)
        model = model or body.get("model", "")
        if model not in MODELS:
            return body, Plan(), JSONResponse(envelope([{"code": 5007, "message": f"No such model {model} or task"}]),
                                              status_code=400)
        plan = self.plans.get(model, Plan())
        if plan.errors and not plan.error_in_stream:
            return body, plan, JSONResponse(envelope(plan.errors), status_code=plan.status)
        return body, plan, None

    async def _events(self, plan: Plan, chunk: Any) -> AsyncIterator[bytes]:
        if plan.error_in_stream:
            yield b"data: " + json.dumps(envelope(plan.errors)).encode() + b"\n\n"
            return
        for sent, piece in enumerate(plan.pieces):
            yield b"data: " + json.dumps(chunk(piece)).encode() + b"\n\n"
            if plan.gate is not None and sent == 0:
                await asyncio.to_thread(plan.gate.wait, 10)

    async def chat(self, request: Request) -> Response:
        body, plan, refused = await self._receive(request)
        if refused:
            return refused
        model, created = body["model"], int(time.time())
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.pieces)}
            return JSONResponse({"id": "id-1718", "object": "chat.completion", "created": created, "model": model,
                                 "choices": [{"index": 0, "message": message, "logprobs": None,
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})

        def chunk(piece: str) -> dict[str, Any]:
            return {"id": "id-1718", "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "logprobs": None,
                                 "finish_reason": None}]}

        async def stream() -> AsyncIterator[bytes]:
            async for event in self._events(plan, chunk):
                yield event
            if not plan.error_in_stream:
                # No usage chunk, whatever stream_options says: the gateway counts.
                yield b"data: " + json.dumps({"id": "id-1718", "object": "chat.completion.chunk", "created": created,
                                              "model": model, "choices": [{"index": 0, "delta": {},
                                                                           "finish_reason": "stop"}]}).encode()
                yield b"\n\ndata: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        body, _, refused = await self._receive(request)
        if refused:
            return refused
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse({"object": "list", "model": body["model"],
                             "data": [{"object": "embedding", "index": i, "embedding": [0.25, -0.5, 0.125]}
                                      for i, _ in enumerate(inputs)],
                             "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})

    async def run(self, request: Request) -> Response:
        body, plan, refused = await self._receive(request, request.path_params["model"])
        if refused:
            return refused
        if not isinstance(body.get("prompt"), str) and not isinstance(body.get("messages"), list):
            return JSONResponse(envelope([{"code": 5006, "message": "Error: required properties at '/' are "
                                                                     "'prompt'"}]), status_code=400)
        usage = {"prompt_tokens": 4, "completion_tokens": len(plan.pieces), "total_tokens": 4 + len(plan.pieces)}
        if not body.get("stream"):
            return JSONResponse({"result": {"response": "".join(plan.pieces), "usage": usage}, "success": True,
                                 "errors": [], "messages": []})

        async def stream() -> AsyncIterator[bytes]:
            async for event in self._events(plan, lambda piece: {"response": piece, "p": "abcdefgh"}):
                yield event
            yield b"data: " + json.dumps({"response": "", "usage": usage}).encode() + b"\n\ndata: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")
