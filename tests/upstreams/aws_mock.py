"""A mock Bedrock runtime: InvokeModel and InvokeModelWithResponseStream for Claude, with AWS's checks and framing.

It verifies SigV4 the way AWS does, re-deriving the signature from the request exactly as it arrived (its own
code, not Tollway's signer), answers AWS's own errors when that fails, and streams binary event-stream frames
(prelude, headers, payload, CRC32s) whose payloads wrap Anthropic events in base64, with Bedrock's padding field.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.anthropic_mock import Plan as ClaudePlan
from tests.upstreams.anthropic_mock import message, output_tokens, paced, problems, stream_events

REGION = "us-east-1"
ACCESS_KEY = "AKIAMOCKBEDROCK00001"
SECRET_KEY = "mock/Secret+Key/For/Bedrock/Tests/000000"
API_KEY = "ABSKbW9jay1iZWRyb2NrLWFwaS1rZXk="
BEDROCK_KEYS = {"anthropic_version", "anthropic_beta", "messages", "max_tokens", "system", "temperature", "top_p",
                "top_k", "stop_sequences", "tools", "tool_choice", "thinking"}
MODELS = {"anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0",
          "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0",
          "us.anthropic.claude-sonnet-4-20250514-v1:0"}
_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details.")


@dataclass
class Plan(ClaudePlan):
    """A Claude plan plus Bedrock's own failures."""

    # An HTTP error: (status, exception name, message).
    http_error: tuple[int, str, str] | None = None
    # An exception frame after this many content deltas: (exception name, message).
    exception: tuple[str, str] | None = None
    exception_after: int = 0
    # Leave the Anthropic usage out of the stream: only amazon-bedrock-invocationMetrics tell the count.
    metrics_only: bool = False


@dataclass
class Recorded:
    path: str
    raw_path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# -- event-stream encoding -------------------------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), string headers, payload, message CRC."""
    block = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    body = head + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk_frame(event: dict[str, Any]) -> bytes:
    data = base64.b64encode(json.dumps(event).encode()).decode()
    # Bedrock pads payloads with a "p" field of varying length so sizes do not leak the content.
    payload = json.dumps({"bytes": data, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:len(data) % 23]})
    return frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
                 payload.encode())


def exception_frame(name: str, text: str) -> bytes:
    return frame({":exception-type": name, ":content-type": "application/json", ":message-type": "exception"},
                 json.dumps({"message": text}).encode())


# -- SigV4 verification, derived independently from the request as received ----------------------------------


def _encode(text: str, keep: str) -> str:
    """RFC 3986 percent-encoding of every byte but the unreserved ones and `keep`."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if char.isascii() and (char.isalnum() or char in "-_.~" + keep) else f"%{byte:02X}")
    return "".join(out)


def expected_signature(method: str, raw_path: str, query: str, headers: dict[str, str], signed: list[str],
                       body: bytes, secret: str, scope: list[str], stamp: str) -> str:
    pairs = sorted((_encode(k, ""), _encode(v, "")) for k, _, v in (p.partition("=") for p in query.split("&") if p))
    canonical = "\n".join([
        method,
        _encode(raw_path, "/"),  # non-S3 services encode the path once more
        "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{'/'.join(scope)}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def aws_error(status: int, exception: str, text: str) -> Response:
    return JSONResponse({"message": text}, status_code=status, headers={"x-amzn-ErrorType": f"{exception}:http://"
                                                                        "internal.amazon.com/coral/com.amazon.bedrock/"})


class BedrockMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.secrets = {ACCESS_KEY: SECRET_KEY}

    def plan(self, model_id: str, **kwargs: Any) -> Plan:
        self.plans[model_id] = Plan(**kwargs)
        return self.plans[model_id]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/model/{rest:path}", self.invoke, methods=["POST"])])

    def refused(self, request: Request, raw_path: str, headers: dict[str, str], body: bytes) -> Response | None:
        """AWS's answer when the request's authentication does not hold, else None."""
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            if authorization[7:] == API_KEY:
                return None
            return aws_error(403, "UnrecognizedClientException", "The security token included in the request is "
                                                                  "invalid.")
        if not authorization:
            return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        try:
            algorithm, rest = authorization.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            access_key, *scope = fields["Credential"].split("/")
            signed, signature = fields["SignedHeaders"].split(";"), fields["Signature"]
        except (KeyError, ValueError):
            return aws_error(403, "IncompleteSignatureException", f"Authorization header requires 'Credential', "
                                                                   f"'Signature' and 'SignedHeaders': {authorization}")
        if algorithm != "AWS4-HMAC-SHA256" or len(scope) != 4 or scope[3] != "aws4_request":
            return aws_error(403, "IncompleteSignatureException", "Unsupported AWS authentication algorithm or scope")
        secret = self.secrets.get(access_key)
        if secret is None:
            return aws_error(403, "UnrecognizedClientException", "The security token included in the request is "
                                                                  "invalid.")
        stamp = headers.get("x-amz-date", "")
        try:
            signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return aws_error(403, "IncompleteSignatureException", "Authorization header requires existence of either "
                                                                   "a 'X-Amz-Date' or a 'Date' header.")
        if abs(time.time() - signed_at) > 300 or scope[0] != stamp[:8]:
            return aws_error(403, "InvalidSignatureException", f"Signature expired: {stamp} is now earlier than "
                                                                f"the allowed window.")
        if scope[1] != REGION:
            return aws_error(403, "InvalidSignatureException", f"Credential should be scoped to a valid region, "
                                                                f"not '{scope[1]}'.")
        if scope[2] != "bedrock":
            return aws_error(403, "InvalidSignatureException", "Credential should be scoped to correct service: "
                                                                "'bedrock'.")
        if "host" not in signed or signed != sorted(signed):
            return aws_error(403, "InvalidSignatureException", _BAD_SIGNATURE)
        expected = expected_signature(request.method, raw_path, request.url.query, headers, signed, body, secret,
                                      scope, stamp)
        if not hmac.compare_digest(expected, signature):
            return aws_error(403, "InvalidSignatureException", _BAD_SIGNATURE)
        return None

    async def invoke(self, request: Request) -> Response:
        body = await request.body()
        raw_path = request.scope["raw_path"].decode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.url.path, raw_path, headers, body))
        refused = self.refused(request, raw_path, headers, body)
        if refused is not None:
            return refused
        model_id, _, operation = request.path_params["rest"].rpartition("/")
        if operation not in ("invoke", "invoke-with-response-stream"):
            return aws_error(404, "UnknownOperationException", "Unknown operation")
        if model_id not in MODELS:
            return aws_error(400, "ValidationException", "The provided model identifier is invalid.")
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return aws_error(400, "ValidationException", "Malformed input request, please reformat your input.")
        if isinstance(data, dict):
            for key in data:
                if key not in BEDROCK_KEYS:
                    return aws_error(400, "ValidationException", f"Malformed input request: #: extraneous key "
                                                                  f"[{key}] is not permitted, please reformat your "
                                                                  f"input and try again.")
            if data.get("anthropic_version") != "bedrock-2023-05-31":
                return aws_error(400, "ValidationException", "Malformed input request: #: required key "
                                                              "[anthropic_version] not found")
        problem = problems(data, BEDROCK_KEYS)
        if problem:
            return aws_error(400, "ValidationException", f"Malformed input request: {problem}")
        plan = self.plans.get(model_id, Plan())
        if plan.http_error is not None:
            status, exception, text = plan.http_error
            return aws_error(status, exception, text)
        model = model_id.split("anthropic.", 1)[-1].rsplit("-v", 1)[0]
        if operation == "invoke":
            return JSONResponse(message(plan, model))
        return StreamingResponse(self._stream(plan, model), media_type="application/vnd.amazon.eventstream",
                                 headers={"x-amzn-bedrock-content-type": "application/json"})

    async def _stream(self, plan: Plan, model: str) -> AsyncIterator[bytes]:
        events = stream_events(plan, model)
        if plan.metrics_only:
            events[0]["message"].pop("usage")
            for event in events:
                event.pop("usage", None)
        deltas = 0
        async for event in paced(events, plan):
            if plan.exception is not None and deltas == plan.exception_after:
                yield exception_frame(*plan.exception)
                return
            if event["type"] == "content_block_delta":
                deltas += 1
            if event["type"] == "message_stop":
                event = {**event, "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": plan.input_tokens, "outputTokenCount": output_tokens(plan),
                    "invocationLatency": 812, "firstByteLatency": 301}}
            data = chunk_frame(event)
            # Frames are written in two pieces, so the reader must put split frames back together.
            yield data[:7]
            yield data[7:]
