"""A mock Replicate API: predictions created per model, polled by id, streamed as server-sent events.

Quirks kept from the real API: creating a prediction answers 201 with `status: starting` and `urls`
(`get`, `cancel`, and `stream` for models that stream); every call needs `Authorization: Bearer r8_...`,
else 401 with a problem-details body; invalid input is 422; the stream is SSE with `event: output`
(plain text; a piece holding a newline spans several `data:` lines), `event: error` and `event: done`;
image outputs are file URLs served without auth (Replicate's CDN).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
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

KEY = "r8_mockkey1234567890"
CHAT_MODELS = ("meta/meta-llama-3-8b-instruct", "mistralai/mistral-7b-instruct-v0.2")
IMAGE_MODELS = ("black-forest-labs/flux-schnell",)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")


@dataclass
class Plan:
    """How the mock runs predictions of one model."""

    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", "\n", "Replicate", "."])
    streams: bool = True  # the model offers a stream URL
    polls: int = 2  # polls answered "processing" before the prediction succeeds
    fail: str = ""  # the prediction fails with this error
    stream_error: str = ""  # an `event: error` after the first piece
    gate: threading.Event | None = None


@dataclass
class Prediction:
    id: str
    model: str
    input: dict[str, Any]
    plan: Plan
    polls: int = 0


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "status": status}, status_code=status,
                        media_type="application/problem+json")


class ReplicateMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.predictions: dict[str, Prediction] = {}
        self._ids = itertools.count(1)

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.predictions.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/models/{owner}/{name}/predictions", self.create, methods=["POST"]),
            Route("/v1/predictions/{id}", self.get, methods=["GET"]),
            Route("/v1/streams/{id}", self.stream, methods=["GET"]),
            Route("/files/{id}/{index}.png", self.file, methods=["GET"]),
        ])

    async def _receive(self, request: Request) -> tuple[bytes, Response | None]:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, raw))
        if headers.get("authorization") != f"Bearer {KEY}":
            return raw, problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return raw, None

    def _view(self, request: Request, prediction: Prediction, status: str) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        get = f"{base}/v1/predictions/{prediction.id}"
        urls = {"get": get, "cancel": get + "/cancel"}
        if prediction.plan.streams and prediction.model in CHAT_MODELS:
            urls["stream"] = f"{base}/v1/streams/{prediction.id}"
        output: Any = None
        if status == "succeeded":
            if prediction.model in CHAT_MODELS:
                output = prediction.plan.pieces
            else:
                count = int(prediction.input.get("num_outputs", 1))
                output = [f"{base}/files/{prediction.id}/{index}.png" for index in range(count)]
        return {"id": prediction.id, "model": prediction.model, "version": "dp-4d5e6f", "input": prediction.input,
                "logs": "", "output": output, "data_removed": False,
                "error": prediction.plan.fail if status == "failed" else None, "status": status,
                "created_at": "2024-07-22T16:59:48.112Z", "urls": urls}

    async def create(self, request: Request) -> Response:
        raw, refused = await self._receive(request)
        if refused:
            return refused
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        if model not in CHAT_MODELS + IMAGE_MODELS:
            return problem(404, "Not found", "The requested resource could not be found.")
        body = json.loads(raw)
        data = body.get("input")
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            return JSONResponse({"title": "Input validation failed", "detail": "- input: prompt is required",
                                 "status": 422, "invalid_fields": [{"type": "required", "field": "input",
                                                                    "description": "prompt is required"}]},
                                status_code=422)
        prediction = Prediction(f"p{next(self._ids):04d}mock", model, data, self.plans.get(model, Plan()))
        self.predictions[prediction.id] = prediction
        return JSONResponse(self._view(request, prediction, "starting"), status_code=201)

    async def get(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused:
            return refused
        prediction = self.predictions.get(request.path_params["id"])
        if prediction is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        prediction.polls += 1
        if prediction.polls <= prediction.plan.polls:
            return JSONResponse(self._view(request, prediction, "processing"))
        return JSONResponse(self._view(request, prediction, "failed" if prediction.plan.fail else "succeeded"))

    async def stream(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused:
            return refused
        prediction = self.predictions.get(request.path_params["id"])
        if prediction is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        plan = prediction.plan

        async def events() -> AsyncIterator[bytes]:
            for index, piece in enumerate(plan.pieces):
                data = "".join(f"data: {line}\n" for line in piece.split("\n"))
                yield f"event: output\nid: 1690212292:{index}\n{data}\n".encode()
                if index == 0 and plan.stream_error:
                    yield f"event: error\nid: 1690212292:e\ndata: {json.dumps({'detail': plan.stream_error})}\n\n" \
                        .encode()
                    yield b'event: done\nid: 1690212292:d\ndata: {"reason": "error"}\n\n'
                    return
                if index == 0 and plan.gate is not None:
                    await asyncio.to_thread(plan.gate.wait, 10)
            yield b"event: done\nid: 1690212292:d\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def file(self, request: Request) -> Response:
        await self._receive(request)  # recorded; the CDN needs no key
        return Response(PNG, media_type="image/png")
