"""A mock Xunfei Spark WebSocket API: verifies the signed URL, reads one request frame, answers in Spark's frames.

Like Spark (reference §7) it refuses the upgrade with HTTP 401 on a bad HMAC signature and 403 on a date more
than 300 s off, checks that `domain` matches the URL path and that the app id belongs to the key, sends
`header.code` error frames, web-search `plugins` frames, whole `function_call`s with no id, and usage only on
the last frame (status 2), after which it closes the socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

APP_ID = "12345"
API_SECRET = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
API_KEY = "addd2272b6d8b7c8abdd79531420ca3b"
KEY = f"{APP_ID}|{API_SECRET}|{API_KEY}"
SKEW = 300

# URL path → the domain Spark requires with it.
DOMAINS = {
    "/v1.1/chat": "lite", "/v2.1/chat": "generalv2", "/v3.1/chat": "generalv3", "/chat/pro-128k": "pro-128k",
    "/v3.5/chat": "generalv3.5", "/chat/max-32k": "max-32k", "/v4.0/chat": "4.0Ultra",
}


@dataclass
class Plan:
    """How the mock answers one domain."""

    pieces: list[str] = field(default_factory=lambda: ["您好", "，我是", "讯飞星火", "。"])
    prompt_tokens: int = 5
    function_call: bool = False
    plugins: bool = False
    error: tuple[int, str] | None = None  # an error frame instead of the answer
    error_after: int | None = None  # an error frame after this many pieces
    gate: threading.Event | None = None  # hold after the first piece until set


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    frame: dict[str, Any]


class XunfeiMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.seen: list[Seen] = []
        self.now: float | None = None  # the mock's clock (None: the real one)

    def plan(self, domain: str, **kwargs: Any) -> Plan:
        self.plans[domain] = Plan(**kwargs)
        return self.plans[domain]

    def reset(self) -> None:
        self.plans.clear()
        self.seen.clear()
        self.now = None

    def app(self) -> Starlette:
        return Starlette(routes=[WebSocketRoute("/{version}/chat", self.chat),
                                 WebSocketRoute("/chat/{name}", self.chat)])

    def _refusal(self, websocket: WebSocket) -> JSONResponse | None:
        """Spark's gateway checks of the signed URL; a response refuses the upgrade."""
        query = dict(websocket.query_params)
        host, date, authorization = query.get("host", ""), query.get("date", ""), query.get("authorization", "")
        if host != websocket.headers.get("host"):
            return JSONResponse({"message": "HMAC signature cannot be verified: host mismatch"}, status_code=401)
        try:
            sent = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return JSONResponse({"message": "HMAC signature cannot be verified, a valid date is required"},
                                status_code=403)
        now = self.now if self.now is not None else time.time()
        if abs(now - sent) > SKEW:
            return JSONResponse({"message": "HMAC signature cannot be verified, the date is out of range"},
                                status_code=403)
        try:
            origin = base64.b64decode(authorization).decode()
        except ValueError:
            origin = ""
        # Spark accepts the documented `api_key="…"` and One API's `hmac username="…"`.
        fields = dict(re.findall(r'(api_key|username|algorithm|headers|signature)="([^"]*)"', origin))
        key = fields.get("api_key") or fields.get("username")
        line = f"host: {host}\ndate: {date}\nGET {websocket.url.path} HTTP/1.1"
        expected = base64.b64encode(hmac.new(API_SECRET.encode(), line.encode(), hashlib.sha256).digest()).decode()
        if (key != API_KEY or fields.get("algorithm") != "hmac-sha256"
                or fields.get("headers") != "host date request-line" or fields.get("signature") != expected):
            return JSONResponse({"message": "HMAC signature does not match"}, status_code=401)
        return None

    async def chat(self, websocket: WebSocket) -> None:
        refusal = self._refusal(websocket)
        if refusal is not None:
            await websocket.send_denial_response(refusal)
            return
        await websocket.accept()
        request = json.loads(await websocket.receive_text())
        self.seen.append(Seen(websocket.url.path, dict(websocket.query_params), request))
        domain = request["parameter"]["chat"].get("domain")
        sid = "cht000b702a@dx18d6fb9d758b894540"

        async def send(code: int, message: str, status: int, payload: dict[str, Any] | None = None) -> None:
            frame: dict[str, Any] = {"header": {"code": code, "message": message, "sid": sid, "status": status}}
            if payload is not None:
                frame["payload"] = payload
            await websocket.send_text(json.dumps(frame, ensure_ascii=False))

        plan = self.plans.get(domain, Plan())
        if request["header"].get("app_id") != APP_ID:
            await send(10313, "app_id and api_key do not match", 2)
        elif DOMAINS.get(websocket.url.path) != domain:
            await send(10163, f"domain {domain!r} does not match the URL", 2)
        elif not 0 < request["parameter"]["chat"].get("temperature", 0.5) <= 1:
            await send(10163, "temperature must be in (0, 1]", 2)
        elif plan.error:
            await send(plan.error[0], plan.error[1], 2)
        else:
            await self._answer(plan, send)
        await websocket.close()

    @staticmethod
    async def _answer(plan: Plan, send: Any) -> None:
        usage = {"text": {"question_tokens": 4, "prompt_tokens": plan.prompt_tokens,
                          "completion_tokens": len(plan.pieces), "total_tokens": plan.prompt_tokens + len(plan.pieces)}}
        if plan.plugins:
            await send(0, "Success", 0, {"plugins": {"text": [{"name": "ifly_search", "content": "[]"}]}})
        if plan.function_call:
            call = {"arguments": "{\"datetime\":\"今天\",\"location\":\"合肥\"}", "name": "天气查询"}
            item = {"content": "", "role": "assistant", "content_type": "text", "function_call": call, "index": 0}
            await send(0, "Success", 2, {"choices": {"status": 2, "seq": 0, "text": [item]},
                                         "usage": {"text": {**usage["text"], "completion_tokens": 0}}})
            return
        last = len(plan.pieces) - 1
        for seq, piece in enumerate(plan.pieces):
            if plan.error_after is not None and seq >= plan.error_after:
                await send(10014, "output failed moderation", 2)
                return
            status = 2 if seq == last else (0 if seq == 0 else 1)
            payload: dict[str, Any] = {"choices": {"status": status, "seq": seq, "text": [
                {"content": piece, "role": "assistant", "index": 0}]}}
            if status == 2:
                payload["usage"] = usage
            await send(0, "Success", status, payload)
            if plan.gate is not None and seq == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
