"""A mock Vertex AI: Google's token endpoint for service-account JWTs, and Gemini and Claude publisher models."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rpc_error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)


class VertexMock:
    """Checks the assertion's signature, audience, scope and expiry, then the bearer token on every call."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self.public_key = public_key
        self.token_url = ""
        self.exchanges = 0
        self.issued: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/token", self.token, methods=["POST"]),
            Route("/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{rest:path}", self.model,
                  methods=["POST"]),
        ])

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            header, claims, signature = str(form.get("assertion", "")).split(".")
            self.public_key.verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                   hashes.SHA256())
            payload = json.loads(_unb64(claims))
        except (ValueError, InvalidSignature):
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                                status_code=400)
        if payload.get("aud") != self.token_url or "cloud-platform" not in payload.get("scope", ""):
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid audience or scope."},
                                status_code=400)
        if not payload["iat"] - 300 <= time.time() <= payload["exp"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "Token expired."}, status_code=400)
        self.exchanges += 1
        token = f"ya29.mock-{self.exchanges}"
        self.issued.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def model(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.issued:
            return rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        model, _, action = request.path_params["rest"].partition(":")
        body = await request.json()
        self.requests.append({"path": request.url.path, "query": request.url.query, "model": model,
                              "action": action, "body": body, "project": request.path_params["project"],
                              "region": request.path_params["region"]})
        if request.path_params["publisher"] == "anthropic":
            return await self._claude(action, body, model)
        return await self._gemini(action, model)

    async def _gemini(self, action: str, model: str) -> Response:
        if action == "generateContent":
            return JSONResponse({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi from Gemini"}]},
                                                 "finishReason": "STOP"}],
                                 "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
                                                   "totalTokenCount": 8}, "modelVersion": model})
        pieces = ["Hi", " from", " Gemini"]

        async def events() -> Any:
            for index, piece in enumerate(pieces):
                chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}}],
                                         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": index + 1}}
                if index == len(pieces) - 1:
                    chunk["candidates"][0]["finishReason"] = "STOP"
                yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()
                if index == 0 and self.gate is not None:
                    await asyncio.to_thread(self.gate.wait, 10)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _claude(self, action: str, body: dict[str, Any], model: str) -> Response:
        if body.get("anthropic_version") != "vertex-2023-10-16" or "model" in body:
            return rpc_error(400, "INVALID_ARGUMENT", "anthropic_version must be vertex-2023-10-16; no model field")
        if action == "rawPredict":
            return JSONResponse({"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                                 "content": [{"type": "text", "text": "Hi from Claude"}], "stop_reason": "end_turn",
                                 "usage": {"input_tokens": 7, "output_tokens": 4}})

        async def events() -> Any:
            frames = [
                ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message",
                                   "role": "assistant", "model": model, "content": [],
                                   "usage": {"input_tokens": 7, "output_tokens": 1}}}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": "Hi from"}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": " Claude"}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                   "usage": {"output_tokens": 4}}),
                ("message_stop", {"type": "message_stop"}),
            ]
            for name, data in frames:
                yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")
