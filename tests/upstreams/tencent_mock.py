"""A mock Tencent Hunyuan upstream (TencentCloud API 3.0): ChatCompletions (whole, wrapped in `Response`, or
unwrapped SSE chunks ending with `FinishReason`) and GetEmbedding.

It recomputes the TC3-HMAC-SHA256 signature from the headers named in SignedHeaders and the body received
(its own implementation, independent of Tollway's), checks the timestamp skew (≤ 300 s), the SecretId and
the action headers, and answers TencentCloud's errors with HTTP 200, as plain JSON even to stream requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

NOTE = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记"
_AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([^/]+)/tc3_request, "
                   r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


@dataclass
class Plan:
    """How the mock answers one model."""

    pieces: list[str] = field(default_factory=lambda: ["1", "+", "1", "=", "2"])
    prompt_tokens: int = 4
    error: tuple[str, str] | None = None  # (Code, Message)
    error_after: int | None = None  # in streams: an ErrorMsg chunk after that many chunks
    tool_call: bool = False
    gate: threading.Event | None = None


@dataclass
class Recorded:
    action: str
    headers: dict[str, str]
    body: Any


def _error(code: str, message: str) -> Response:
    return JSONResponse({"Response": {"RequestId": str(uuid.uuid4()), "Error": {"Code": code, "Message": message}}})


class TencentMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {"AKIDmock": "mock-secret-key"}
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.api, methods=["POST"])])

    def check_signature(self, headers: dict[str, str], body: bytes) -> tuple[str, str] | None:
        """TencentCloud's verdict on the request's signature: None, or (Code, Message)."""
        found = _AUTH.match(headers.get("authorization", ""))
        if not found:
            return "AuthFailure.InvalidAuthorization", "Authorization header is malformed"
        secret_id, date, service, signed, signature = found.groups()
        secret = self.secrets.get(secret_id)
        if secret is None:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found"
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            return "AuthFailure.SignatureFailure", "X-TC-Timestamp is missing"
        if abs(time.time() - timestamp) > 300:
            return "AuthFailure.SignatureExpire", "Signature expired; the timestamp is off by more than 5 minutes"
        names = signed.split(";")
        if not {"content-type", "host"} <= set(names) or any(name not in headers for name in names):
            return "AuthFailure.SignatureFailure", "content-type and host must be signed"
        if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date or service != "hunyuan":
            return "AuthFailure.SignatureFailure", "The credential scope does not match"
        canonical_headers = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in names)
        canonical = "\n".join(["POST", "/", "", canonical_headers, signed, hashlib.sha256(body).hexdigest()])
        to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{date}/{service}/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])

        def step(key: bytes, text: str) -> bytes:
            return hmac.new(key, text.encode(), hashlib.sha256).digest()

        key = step(step(step(("TC3" + secret).encode(), date), service), "tc3_request")
        if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
            return "AuthFailure.SignatureFailure", "The provided credentials could not be validated"
        return None

    async def api(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = headers.get("x-tc-action", "")
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(action, headers, body))
        problem = self.check_signature(headers, raw)
        if problem:
            return _error(*problem)
        if headers.get("x-tc-version") != "2023-09-01":
            return _error("InvalidParameterValue", "X-TC-Version must be 2023-09-01")
        if action == "GetEmbedding":
            return self.embedding(body)
        if action != "ChatCompletions":
            return _error("InvalidAction", f"The action {action} is not found")
        return await self.chat(body)

    def embedding(self, body: Any) -> Response:
        inputs = body.get("InputList")
        if not isinstance(inputs, list) or not inputs:
            return _error("InvalidParameter", "InputList is required")
        return JSONResponse({"Response": {
            "Data": [{"Embedding": [0.125, -0.5, float(i)], "Index": i, "Object": "embedding"}
                     for i, _ in enumerate(inputs)],
            "Usage": {"PromptTokens": 5 * len(inputs), "TotalTokens": 5 * len(inputs)},
            "RequestId": str(uuid.uuid4())}})

    async def chat(self, body: Any) -> Response:
        plan = self.plans.get(body.get("Model"), Plan())
        problem = _check_messages(body.get("Messages"))
        if problem:
            return _error("InvalidParameter", problem)
        if isinstance(body.get("Temperature"), int | float) and body["Temperature"] > 2:
            return _error("InvalidParameter", "Temperature must be 2 or less")
        tools = body.get("Tools") or []
        if any(not isinstance(tool["Function"].get("Parameters"), str) for tool in tools):
            return _error("InvalidParameter", "Tools.Function.Parameters must be a JSON string")
        if plan.error is not None and plan.error_after is None:
            return _error(*plan.error)
        created = int(time.time())
        usage = {"PromptTokens": plan.prompt_tokens, "CompletionTokens": len(plan.pieces),
                 "TotalTokens": plan.prompt_tokens + len(plan.pieces)}
        if not body.get("Stream"):
            message: dict[str, Any] = {"Role": "assistant", "Content": "".join(plan.pieces)}
            if plan.tool_call:
                # As in the official example: the non-stream tool call has no Id.
                message = {"Role": "assistant", "Content": "使用get_current_weather工具来获取天气。", "ToolCalls": [
                    {"Type": "function", "Function": {"Name": "get_current_weather",
                                                      "Arguments": "{\"location\":\"北京\"}"}}]}
            return JSONResponse({"Response": {
                "RequestId": str(uuid.uuid4()), "Note": NOTE, "Id": "e4657570-94a5-45f1-896c-a00ac3471d51",
                "Choices": [{"FinishReason": "tool_calls" if plan.tool_call else "stop", "Message": message}],
                "Created": created, "Usage": usage}})
        return StreamingResponse(self._stream(plan, created), media_type="text/event-stream",
                                 headers={"X-TC-RequestId": str(uuid.uuid4())})

    async def _stream(self, plan: Plan, created: int) -> Any:
        base = {"Note": NOTE, "Created": created, "Id": "148b89ef-14e1-489f-8e70-b767e5b27d56"}
        if plan.tool_call:
            call = "call_cq154vk2c3m1v7ep3530"
            deltas = [
                {"Role": "assistant", "Content": "", "ToolCalls": [{"Id": call, "Type": "function", "Function": {
                    "Name": "get_current_weather", "Arguments": ""}}]},
                {"Role": "assistant", "Content": "", "ToolCalls": [{"Id": call, "Type": "function", "Function": {
                    "Name": "", "Arguments": "{\"location\":\"北京\"}"}}]},
                {"Role": "assistant", "Content": "计划使用get_current_weather工具来获取北京的天气。"},
            ]
        else:
            deltas = [{"Role": "assistant", "Content": piece} for piece in plan.pieces]
        completion = 0
        for index, delta in enumerate(deltas):
            if plan.error_after is not None and index == plan.error_after:
                code, message = plan.error or ("FailedOperation", "mock failure")
                yield f"data: {json.dumps({**base, 'ErrorMsg': {'Code': code, 'Msg': message}})}\n\n".encode()
                return
            completion += 1
            usage = {"PromptTokens": plan.prompt_tokens, "CompletionTokens": completion,
                     "TotalTokens": plan.prompt_tokens + completion}
            chunk = {**base, "Choices": [{"FinishReason": "", "Delta": delta}], "Usage": usage}
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
            if plan.gate is not None and index == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        usage = {"PromptTokens": plan.prompt_tokens, "CompletionTokens": completion,
                 "TotalTokens": plan.prompt_tokens + completion}
        last = {**base, "Choices": [{"FinishReason": "tool_calls" if plan.tool_call else "stop",
                                     "Delta": {"Role": "assistant", "Content": ""}}], "Usage": usage}
        yield f"data: {json.dumps(last, ensure_ascii=False)}\n\n".encode()


def _check_messages(messages: Any) -> str:
    """Hunyuan's rules: system only first; then user and assistant alternate (tool results after calls)."""
    if not isinstance(messages, list) or not messages:
        return "Messages is required"
    turns = messages[1:] if messages[0].get("Role") == "system" else messages
    previous = ""
    for message in turns:
        role = message.get("Role")
        if role == "system":
            return "system must be the first message"
        if role == previous and role != "tool":
            return "user and assistant messages must alternate"
        if "Content" not in message and "Contents" not in message:
            return "Content is required"
        previous = role
    if not turns or turns[-1].get("Role") not in ("user", "tool"):
        return "the last message must come from the user"
    return ""
