"""A mock Zhipu BigModel upstream: v4 chat (OpenAI-like, chunks without `object`), embeddings and images,
and the legacy v3 invoke / sse-invoke (quoted content; `event:`/`data:`/`meta:` lines).

Every call must carry a JWT (bare or after `Bearer `) signed HS256 with a known key's secret, with header
`sign_type: SIGN` and `exp` / `timestamp` in milliseconds, `exp` in the future; otherwise Zhipu's 401.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Plan:
    """How the mock answers one model."""

    pieces: list[str] = field(default_factory=lambda: ["你好", "！我是", "智谱", "清言。"])
    prompt_tokens: int = 10
    status: int = 200
    error: dict[str, Any] | None = None  # the body of a failure (v4 `{"error":...}`, v3 `{"success":false,...}`)
    error_after: int | None = None  # in streams: an error event after that many chunks
    tool_call: bool = False
    gate: threading.Event | None = None


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    claims: dict[str, Any]


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ZhipuMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {"abc123": "s3cr3t"}
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/paas/v4/chat/completions", self.chat_v4, methods=["POST"]),
            Route("/api/paas/v4/embeddings", self.embeddings, methods=["POST"]),
            Route("/api/paas/v4/images/generations", self.images, methods=["POST"]),
            Route("/api/paas/v3/model-api/{model}/{method}", self.chat_v3, methods=["POST"]),
        ])

    def verify(self, authorization: str) -> dict[str, Any] | None:
        """The JWT's claims when Zhipu would accept it."""
        token = authorization.removeprefix("Bearer ").strip()
        try:
            head, payload, signature = token.split(".")
            header, claims = json.loads(_unb64(head)), json.loads(_unb64(payload))
        except ValueError:
            return None
        if header != {"alg": "HS256", "sign_type": "SIGN"}:
            return None
        secret = self.keys.get(claims.get("api_key"))
        if secret is None:
            return None
        expected = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        now_ms = time.time() * 1000
        exp, stamp = claims.get("exp"), claims.get("timestamp")
        # Milliseconds: a seconds value (~1.7e9) would read as January 1970 and be long expired.
        if not isinstance(exp, int) or not isinstance(stamp, int) or exp < now_ms or abs(stamp - now_ms) > 600_000:
            return None
        return dict(claims)

    async def _record(self, request: Request) -> tuple[Any, Response | None]:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        claims = self.verify(request.headers.get("authorization", ""))
        self.requests.append(Recorded(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body,
                                      claims or {}))
        if claims is None:
            message = "Authorization Token非法，请确认Authorization Token正确传递。"
            if "/v3/" in request.url.path:
                return body, JSONResponse({"code": 1002, "msg": message, "success": False})
            return body, JSONResponse({"error": {"code": "1002", "message": message}}, status_code=401)
        return body, None

    # -- v4 ------------------------------------------------------------------------------------------------

    async def chat_v4(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        plan = self.plans.get(body.get("model"), Plan())
        top_p, temperature = body.get("top_p"), body.get("temperature")
        if (top_p is not None and not 0 < top_p < 1) or (temperature is not None and not 0 <= temperature <= 1):
            return JSONResponse({"error": {"code": "1214", "message": "top_p 或 temperature 参数非法"}},
                                status_code=400)
        if plan.error is not None and plan.error_after is None:
            return JSONResponse(plan.error, status_code=plan.status)
        usage = {"prompt_tokens": plan.prompt_tokens, "completion_tokens": len(plan.pieces),
                 "total_tokens": plan.prompt_tokens + len(plan.pieces)}
        created = int(time.time())
        call = {"id": "call_8231168139794583938", "index": 0, "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"北京\"}"}}
        if not body.get("stream"):
            message: dict[str, Any] = {"content": "".join(plan.pieces), "role": "assistant"}
            if plan.tool_call:
                message = {"role": "assistant", "tool_calls": [{k: v for k, v in call.items() if k != "index"}]}
            return JSONResponse({"choices": [{"finish_reason": "tool_calls" if plan.tool_call else "stop", "index": 0,
                                              "message": message}],
                                 "created": created, "id": "8512982659489624459", "model": body["model"],
                                 "request_id": "8512982659489624459", "usage": usage})
        return StreamingResponse(self._stream_v4(plan, body["model"], created, usage, call),
                                 media_type="text/event-stream")

    async def _stream_v4(self, plan: Plan, model: str, created: int, usage: dict[str, int],
                         call: dict[str, Any]) -> Any:
        base = {"id": "8439641316893948328", "created": created, "model": model}
        deltas = [{"role": "assistant", "tool_calls": [call]}] if plan.tool_call else [
            {"role": "assistant", "content": piece} for piece in plan.pieces]
        for index, delta in enumerate(deltas):
            if plan.error_after is not None and index == plan.error_after:
                yield f"data: {json.dumps(plan.error)}\n\n".encode()
                return
            yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()
            if plan.gate is not None and index == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        finish = {**base, "choices": [{"index": 0, "finish_reason": "tool_calls" if plan.tool_call else "stop",
                                       "delta": {"role": "assistant", "content": ""}}], "usage": usage}
        yield f"data: {json.dumps(finish)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        return JSONResponse({"model": body.get("model"), "object": "list",
                             "data": [{"index": i, "object": "embedding", "embedding": [0.5, -0.25, float(i)]}
                                      for i, _ in enumerate(texts)],
                             "usage": {"prompt_tokens": 4 * len(texts), "completion_tokens": 0,
                                       "total_tokens": 4 * len(texts)}})

    async def images(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        if "n" in body:
            return JSONResponse({"error": {"code": "1214", "message": "n is not a parameter"}}, status_code=400)
        return JSONResponse({"created": int(time.time()), "data": [{"url": "https://sfile.chatglm.cn/img/1.png"}]})

    # -- v3 ------------------------------------------------------------------------------------------------

    async def chat_v3(self, request: Request) -> Response:
        body, refused = await self._record(request)
        if refused:
            return refused
        model, method = request.path_params["model"], request.path_params["method"]
        plan = self.plans.get(model, Plan())
        if not isinstance(body.get("prompt"), list):
            return JSONResponse({"code": 1214, "msg": "prompt 参数非法", "success": False})
        if plan.error is not None and plan.error_after is None:
            return JSONResponse(plan.error, status_code=plan.status)
        if method == "invoke":
            # The quirk: the content is a JSON string inside the string.
            return JSONResponse({"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": "7865480399259975113", "task_id": "7865480399259975113", "task_status": "SUCCESS",
                "choices": [{"content": json.dumps("".join(plan.pieces), ensure_ascii=False), "role": "assistant"}],
                "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": len(plan.pieces),
                          "total_tokens": plan.prompt_tokens + len(plan.pieces)}}})
        if method != "sse-invoke" or body.get("incremental") is not True:
            return JSONResponse({"code": 1214, "msg": "incremental must be true for this mock", "success": False})
        return StreamingResponse(self._stream_v3(plan), media_type="text/event-stream")

    async def _stream_v3(self, plan: Plan) -> Any:
        task = "7951544019094669224"
        for index, piece in enumerate(plan.pieces):
            if plan.error_after is not None and index == plan.error_after:
                yield f"event:error\nid:{task}\ndata:{(plan.error or {}).get('msg', 'mock failure')}\n\n".encode()
                return
            # Several data lines make one multi-line piece of text.
            data = "".join(f"data:{line}\n" for line in piece.split("\n"))
            yield f"event:add\nid:{task}\n{data}\n".encode()
            if plan.gate is not None and index == 0:
                await asyncio.to_thread(plan.gate.wait, 10)
        meta = {"task_status": "SUCCESS", "usage": {"completion_tokens": len(plan.pieces), "prompt_tokens": 0,
                                                    "total_tokens": len(plan.pieces)},
                "task_id": task, "request_id": task}
        yield f"event:finish\nid:{task}\ndata:\nmeta:{json.dumps(meta)}\n\n".encode()
