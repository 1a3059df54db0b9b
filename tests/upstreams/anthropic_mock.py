"""A mock Anthropic Messages API: a real HTTP server speaking Anthropic's wire format, checking what Anthropic does.

Each model name can be given a `Plan`; every request is recorded. The answer builders and the body checks are
shared with the Bedrock mock, which carries the same Messages API inside AWS's framing.
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

ANTHROPIC_KEYS = {"model", "messages", "max_tokens", "system", "stream", "temperature", "top_p", "top_k",
                  "stop_sequences", "tools", "tool_choice", "metadata", "thinking", "service_tier"}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


@dataclass
class Plan:
    """How the mock answers one model."""

    status: int = 200
    error_type: str = "api_error"
    error_message: str = "mock failure"
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " Claude", "."])
    thinking: list[str] = field(default_factory=list)
    tool_call: bool = False
    input_tokens: int = 21
    cache_read: int = 0
    cache_creation: int = 0
    # Send an `event: error` (with HTTP 200) after this many content deltas.
    error_after: int | None = None
    # Hold the stream after its first content delta until the test sets this event (proves incremental relay).
    gate: threading.Event | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"}


def _check_blocks(where: str, role: str, content: Any, tool_ids: set[str]) -> str | None:
    if isinstance(content, str):
        return None if content else f"{where}: text content blocks must be non-empty"
    if not isinstance(content, list) or not content:
        return f"{where}: content must be a non-empty string or list"
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            return f"{where}.content.{j}: Input tag {kind!r} found using 'type' does not match any of the expected tags"
        if kind == "text" and not block.get("text"):
            return f"{where}.content.{j}: text content blocks must be non-empty"
        if kind == "image":
            source = block.get("source") or {}
            if source.get("type") == "base64" and source.get("media_type") not in IMAGE_TYPES:
                return f"{where}.content.{j}.source.media_type: Input should be one of {sorted(IMAGE_TYPES)}"
        if kind == "tool_use" and (role != "assistant" or not isinstance(block.get("input"), dict)):
            return f"{where}.content.{j}.tool_use: input must be an object in an assistant turn"
        if kind == "tool_result" and block.get("tool_use_id") not in tool_ids:
            return (f"{where}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message.")
    return None


def problems(body: Any, allowed: set[str]) -> str | None:
    """What Anthropic's validation would refuse in a Messages body (the first problem found), or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for key in body:
        if key not in allowed:
            return f"{key}: Extra inputs are not permitted"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or list"
    for i, tool in enumerate(body.get("tools") or []):
        if not tool.get("name"):
            return f"tools.{i}: name is required"
        # Server tools (web_search_20250305, …) have a versioned type and no schema; custom tools need one.
        if tool.get("type", "custom") == "custom" and not isinstance(tool.get("input_schema"), dict):
            return f"tools.{i}: input_schema is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous, tool_ids = "", set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous:
            return (f'messages: roles must alternate between "user" and "assistant", '
                    f'but found multiple "{role}" roles in a row')
        problem = _check_blocks(f"messages.{i}", role, message.get("content"), tool_ids)
        if problem:
            return problem
        content = message.get("content")
        tool_ids = {b["id"] for b in content if isinstance(b, dict) and b.get("type") == "tool_use"} \
            if isinstance(content, list) else set()
        previous = role
    return None


def message(plan: Plan, model: str) -> dict[str, Any]:
    """A whole Anthropic message as the plan says."""
    content: list[dict[str, Any]] = []
    if plan.thinking:
        content.append({"type": "thinking", "thinking": "".join(plan.thinking), "signature": "EqQBCgIYAhIM"})
    if plan.pieces:
        content.append({"type": "text", "text": "".join(plan.pieces)})
    if plan.tool_call:
        content.append({"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather",
                        "input": {"location": "Paris"}})
    return {"id": "msg_01T4jd6NyD9xGGtTPDC4ogy5", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "tool_use" if plan.tool_call else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": plan.input_tokens, "cache_creation_input_tokens": plan.cache_creation,
                      "cache_read_input_tokens": plan.cache_read, "output_tokens": output_tokens(plan),
                      "service_tier": "standard"}}


def output_tokens(plan: Plan) -> int:
    return len(plan.pieces) + len(plan.thinking) + (5 if plan.tool_call else 0)


def stream_events(plan: Plan, model: str) -> list[dict[str, Any]]:
    """The stream events of the plan's answer, shaped like Anthropic's recorded streams (pings included)."""
    usage = {"input_tokens": plan.input_tokens, "cache_creation_input_tokens": plan.cache_creation,
             "cache_read_input_tokens": plan.cache_read, "output_tokens": 1, "service_tier": "standard"}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {
        "id": "msg_019Q1hrJbZG26Fb9BQhrkHEr", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}}]
    index = 0
    if plan.thinking:
        events.append({"type": "content_block_start", "index": index,
                       "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
        events += [{"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta",
                                                                             "thinking": piece}}
                   for piece in plan.thinking]
        events.append({"type": "content_block_delta", "index": index,
                       "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}})
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    if plan.pieces:
        events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
                   for piece in plan.pieces]
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    if plan.tool_call:
        events.append({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather",
            "caller": {"type": "direct"}, "input": {}}})
        events += [{"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": part}}
                   for part in ["", "{\"locati", "on\": \"P", "ar", "is\"}"]]
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use" if plan.tool_call else "end_turn",
                                                      "stop_sequence": None},
                   "usage": {"output_tokens": output_tokens(plan)}})
    events.append({"type": "message_stop"})
    if plan.error_after is not None:
        # Cut the stream after that many content deltas and end it with an error event, as Anthropic does.
        kept, seen = [], 0
        for event in events:
            if event["type"] == "content_block_delta":
                if seen == plan.error_after:
                    break
                seen += 1
            kept.append(event)
        events = [*kept, {"type": "error", "error": {"type": plan.error_type, "message": plan.error_message}}]
    return events


async def paced(events: list[dict[str, Any]], plan: Plan) -> AsyncIterator[dict[str, Any]]:
    """The events, holding after the first content delta while the plan's gate is closed."""
    gated = False
    for event in events:
        yield event
        if plan.gate is not None and not gated and event["type"] == "content_block_delta":
            gated = True
            await asyncio.to_thread(plan.gate.wait, 10)


class AnthropicMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.keys = {"sk-ant-mock"}

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.keys = {"sk-ant-mock"}

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])

    async def messages(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, headers, raw))
        if headers.get("x-api-key") not in self.keys:
            return JSONResponse(error_body("authentication_error", "invalid x-api-key"), status_code=401)
        if not headers.get("anthropic-version"):
            return JSONResponse(error_body("invalid_request_error", "anthropic-version: header is required"),
                                status_code=400)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return JSONResponse(error_body("invalid_request_error", "The request body is not valid JSON."), 400)
        problem = problems(body, ANTHROPIC_KEYS)
        if problem:
            return JSONResponse(error_body("invalid_request_error", problem), status_code=400)
        model = str(body.get("model") or "")
        plan = self.plans.get(model, Plan())
        if plan.status >= 400:
            return JSONResponse(error_body(plan.error_type, plan.error_message), status_code=plan.status)
        if not body.get("stream"):
            return JSONResponse(message(plan, model))

        async def sse() -> AsyncIterator[bytes]:
            async for event in paced(stream_events(plan, model), plan):
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(sse(), media_type="text/event-stream; charset=utf-8")
