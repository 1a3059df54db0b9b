"""A mock Gemini API (Generative Language): a real HTTP server speaking its wire format, with its quirks.

It checks what Google checks (the API key in `x-goog-api-key` or `?key=`, fields v1 does not know, models
v1 does not serve, roles, the `models/<m>` inside embedding requests) and answers its RPC-style errors.
Streams are SSE with CRLF line ends and no terminal marker; usageMetadata is cumulative in every event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "AIza-mock-key"
CATEGORIES = {"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
              "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"}
_V1_ONLY = ("gemini-pro", "gemini-1.0", "text-embedding-004", "embedding-001")
# A 1x1 PNG served at /files/pixel.png, for tests of image URLs the gateway must fetch and inline.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")


@dataclass
class GeminiPlan:
    """How the mock answers one model."""

    status: int = 200
    rpc_status: str = "INTERNAL"
    message: str = "mock failure"
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " Gemini", "."])
    thoughts: list[str] = field(default_factory=list)
    function_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "args"}]
    signature: str = ""  # thoughtSignature on the first function call (Gemini 3)
    finish: str = "STOP"
    blocked: str = ""  # promptFeedback.blockReason, and no candidates
    prompt_tokens: int = 9
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    error_after: int | None = None  # stream: an error event (HTTP 200) after this many events
    gate: threading.Event | None = None  # stream: hold after the first event until the test sets it


@dataclass
class Seen:
    version: str
    model: str
    action: str
    query: str
    headers: dict[str, str]
    body: Any


def rpc(code: int, status: str, message: str, reason: str = "") -> JSONResponse:
    """A Google RPC error answer."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]
    if status == "RESOURCE_EXHAUSTED":
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"}]
    return JSONResponse({"error": error}, status_code=code)


class GeminiMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, GeminiPlan] = {}
        self.requests: list[Seen] = []

    def plan(self, model: str, **kwargs: Any) -> GeminiPlan:
        self.plans[model] = GeminiPlan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{version}/models/{target:path}", self.handle, methods=["POST"]),
                                 Route("/files/pixel.png", self.pixel, methods=["GET"])])

    async def pixel(self, request: Request) -> Response:
        return Response(PIXEL, media_type="image/png")

    async def handle(self, request: Request) -> Response:
        version = request.path_params["version"]
        model, _, action = request.path_params["target"].partition(":")
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            return rpc(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Seen(version, model, action, request.url.query, headers, body))
        key = headers.get("x-goog-api-key") or request.query_params.get("key")
        if key != KEY:
            return rpc(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
        if version not in ("v1", "v1beta"):
            return rpc(404, "NOT_FOUND", f"Unknown API version {version}")
        if version == "v1" and not model.startswith(_V1_ONLY):
            return rpc(404, "NOT_FOUND", f"models/{model} is not found for API version v1, or is not supported "
                                         "for generateContent.")
        if action == "batchEmbedContents":
            return self.embed(model, body)
        if action == "embedContent":
            return self.embed_one(model, body)
        if action not in ("generateContent", "streamGenerateContent"):
            return rpc(404, "NOT_FOUND", f"unknown method {action}")
        problem = self.check(version, body)
        if problem:
            return rpc(400, "INVALID_ARGUMENT", problem)
        plan = self.plans.get(model, GeminiPlan())
        if plan.status >= 400:
            return rpc(plan.status, plan.rpc_status, plan.message)
        candidates = ((body.get("generationConfig") or {}).get("candidateCount") or 1)
        if action == "generateContent":
            return JSONResponse(self.whole(plan, model, candidates))
        if request.query_params.get("alt") != "sse":
            return rpc(400, "INVALID_ARGUMENT", "the mock serves streams only with alt=sse")
        return StreamingResponse(self.stream(plan, model), media_type="text/event-stream",
                                 headers={"Content-Disposition": "attachment"})

    @staticmethod
    def check(version: str, body: dict[str, Any]) -> str:
        """What Google would refuse in a generateContent body, or "" when it is fine."""
        if version == "v1":
            for name in ("systemInstruction", "tools", "toolConfig"):
                if name in body:
                    return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        for content in contents:
            if content.get("role") not in ("user", "model"):
                return f"Please use a valid role: user, model. (got {content.get('role')!r})"
            if not content.get("parts"):
                return "* GenerateContentRequest.contents.parts: contents.parts must not be empty."
            for part in content["parts"]:
                data = part.get("inlineData")
                if data is not None and (not data.get("mimeType") or not data.get("data")):
                    return "inlineData needs mimeType and data"
                call = part.get("functionCall")
                if call is not None and not isinstance(call.get("args", {}), dict):
                    return "functionCall.args must be an object"
                response = part.get("functionResponse")
                if response is not None and (not response.get("name") or not isinstance(response.get("response"),
                                                                                         dict)):
                    return "functionResponse needs a name and an object response"
        for setting in body.get("safetySettings") or ():
            if setting.get("category") not in CATEGORIES:
                return f"Invalid value at 'safety_settings.category' ({setting.get('category')})"
        return ""

    @staticmethod
    def usage(plan: GeminiPlan, completion: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": plan.prompt_tokens,
                                 "totalTokenCount": plan.prompt_tokens + completion + plan.thoughts_tokens,
                                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}]}
        if completion:
            usage["candidatesTokenCount"] = completion
        if plan.thoughts_tokens:
            usage["thoughtsTokenCount"] = plan.thoughts_tokens
        if plan.cached_tokens:
            usage["cachedContentTokenCount"] = plan.cached_tokens
        return usage

    @staticmethod
    def calls(plan: GeminiPlan) -> list[dict[str, Any]]:
        parts = []
        for number, call in enumerate(plan.function_calls):
            part: dict[str, Any] = {"functionCall": call}
            if plan.signature and number == 0:
                part["thoughtSignature"] = plan.signature
            parts.append(part)
        return parts

    def whole(self, plan: GeminiPlan, model: str, candidates: int) -> dict[str, Any]:
        tail = {"usageMetadata": self.usage(plan, len(plan.pieces)), "modelVersion": model,
                "responseId": "mockResponseId01"}
        if plan.blocked:
            return {"promptFeedback": {"blockReason": plan.blocked}, **tail}
        parts: list[dict[str, Any]] = [{"text": "".join(plan.thoughts), "thought": True}] if plan.thoughts else []
        if plan.pieces:
            parts.append({"text": "".join(plan.pieces)})
        parts += self.calls(plan)
        found = [{"content": {"parts": parts, "role": "model"}, "finishReason": plan.finish, "index": index,
                  "avgLogprobs": -0.1} for index in range(candidates)]
        return {"candidates": found, **tail}

    async def stream(self, plan: GeminiPlan, model: str) -> Any:
        def event(data: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"

        tail = {"modelVersion": model, "responseId": "mockResponseId01"}
        if plan.blocked:
            yield event({"promptFeedback": {"blockReason": plan.blocked},
                         "usageMetadata": self.usage(plan, 0), **tail})
            return
        parts = [[{"text": t, "thought": True}] for t in plan.thoughts] + [[{"text": p}] for p in plan.pieces]
        if plan.function_calls:
            parts.append(self.calls(plan))
        for sent, part in enumerate(parts):
            if plan.error_after is not None and sent >= plan.error_after:
                yield event({"error": {"code": 500, "message": "An internal error has occurred.",
                                       "status": "INTERNAL"}})
                return
            candidate: dict[str, Any] = {"content": {"parts": part, "role": "model"}, "index": 0}
            if sent == len(parts) - 1:
                candidate["finishReason"] = plan.finish
            done = sum(1 for p in parts[:sent + 1] if "thought" not in p[0])
            yield event({"candidates": [candidate], "usageMetadata": self.usage(plan, done), **tail})
            if plan.gate is not None and sent == 0:
                await asyncio.to_thread(plan.gate.wait, 10)

    @staticmethod
    def vector(item: dict[str, Any]) -> dict[str, Any]:
        text = "".join(part.get("text", "") for part in item["content"]["parts"])
        size = item.get("outputDimensionality") or 3
        return {"values": [float(len(text))] + [0.25] * (size - 1)}

    def embed_one(self, model: str, body: dict[str, Any]) -> Response:
        content = body.get("content")
        if not isinstance(content, dict) or not content.get("parts"):
            return rpc(400, "INVALID_ARGUMENT", "* EmbedContentRequest.content: content is not specified")
        return JSONResponse({"embedding": self.vector(body)})

    def embed(self, model: str, body: dict[str, Any]) -> Response:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return rpc(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: requests is not specified")
        embeddings = []
        for index, item in enumerate(requests):
            if item.get("model") != f"models/{model}":
                return rpc(400, "INVALID_ARGUMENT", f"* BatchEmbedContentsRequest.model: Model names should "
                                                    f"match the parent model (requests[{index}])")
            embeddings.append(self.vector(item))
        return JSONResponse({"embeddings": embeddings})
