"""iFlytek Xunfei Spark over its WebSocket API (channel type 18): a signed URL, one request frame, answer frames."""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, StreamState, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import bad_answer, json_of, obj, provider_error, unsupported, upstream_error
from tollway.relay.adaptors.openai_out import ChunkWriter
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage, from_openai

DEFAULT_BASE = "wss://spark-api.xf-yun.com"
DEFAULT_VERSION = "v1.1"

# One API's model names and the API version each one means.
MODEL_VERSIONS = {
    "Spark-Lite": "v1.1",
    "Spark-Pro": "v3.1",
    "Spark-Pro-128K": "v3.1-128K",
    "Spark-Max": "v3.5",
    "Spark-Max-32K": "v3.5-32K",
    "Spark-4.0-Ultra": "v4.0",
}
# API version → (URL path, `domain`); the domain must match the URL.
ENDPOINTS = {
    "v1.1": ("/v1.1/chat", "lite"),
    "v2.1": ("/v2.1/chat", "generalv2"),
    "v3.1": ("/v3.1/chat", "generalv3"),
    "v3.1-128K": ("/chat/pro-128k", "pro-128k"),
    "v3.5": ("/v3.5/chat", "generalv3.5"),
    "v3.5-32K": ("/chat/max-32k", "max-32k"),
    "v4.0": ("/v4.0/chat", "4.0Ultra"),
}

_STATUS_BY_CODE = {
    10003: 400, 10004: 400, 10005: 400, 10163: 400,  # malformed frame or parameters
    10907: 400,  # prompt over the model's token limit
    10013: 400, 10014: 400, 10019: 400,  # input or output failed moderation
    11200: 401,  # key not authorised for this model, or licence expired
    10313: 401,  # app id does not belong to the API key
    10007: 429, 11201: 429, 11202: 429, 11203: 429,  # daily quota, QPS and concurrency limits
}
_MODERATION = frozenset({10013, 10014, 10019})


def version_of(model: str, config: dict[str, Any]) -> str:
    """The API version of a model: from its name, else the channel's `api_version`, else v1.1."""
    if model in MODEL_VERSIONS:
        return MODEL_VERSIONS[model]
    if model.startswith("SparkDesk-"):
        return model.removeprefix("SparkDesk-")  # One API's older names: SparkDesk-v3.5, ...
    configured = config.get("api_version")
    return configured if isinstance(configured, str) and configured else DEFAULT_VERSION


def endpoint(version: str) -> tuple[str, str]:
    """(URL path, domain) of an API version."""
    return ENDPOINTS.get(version) or (f"/{version}/chat", f"general{version}")


def sign_url(url: str, api_key: str, api_secret: str, date: str) -> str:
    """The URL with Xunfei's HMAC-SHA256 authorization, date and host in the query (signing the host connected to)."""
    parts = urlsplit(url)
    origin = f"host: {parts.netloc}\ndate: {date}\nGET {parts.path} HTTP/1.1"
    signature = base64.b64encode(hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()
    authorization = (f'api_key="{api_key}", algorithm="hmac-sha256", headers="host date request-line", '
                     f'signature="{signature}"')
    query = urlencode({"authorization": base64.b64encode(authorization.encode()).decode(), "date": date,
                       "host": parts.netloc})
    return f"{url}?{query}"


def socket_base(base_url: str) -> str:
    """The channel's base URL as a WebSocket base (http → ws, https → wss); Xunfei's own by default."""
    base = (base_url or DEFAULT_BASE).rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://")
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://")
    return base


def _role(role: str) -> str:
    # Spark knows system, user and assistant; tool results are told to it as the user.
    if role == "developer":
        return "system"
    return role if role in ("system", "user", "assistant") else "user"


def request_frame(call: Call, app_id: str, domain: str) -> dict[str, Any]:
    """The one frame Spark expects after the upgrade."""
    body = call.body
    messages = body["messages"]
    chat: dict[str, Any] = {"domain": domain}
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        chat["temperature"] = min(max(float(temperature), 0.01), 1.0)  # Spark takes (0, 1]
    top_k = body.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool):
        chat["top_k"] = min(max(top_k, 1), 6)
    if call.max_tokens:
        chat["max_tokens"] = call.max_tokens
    header: dict[str, Any] = {"app_id": app_id}
    if isinstance(body.get("user"), str) and body["user"]:
        header["uid"] = body["user"][:32]
    payload: dict[str, Any] = {"message": {"text": [
        {"role": _role(str(m.get("role", "user"))), "content": text_of(m.get("content"), untyped=True)}
        for m in messages]}}
    functions = [tool["function"] for tool in body.get("tools") or []
                 if isinstance(tool, dict) and isinstance(tool.get("function"), dict)]
    functions = functions or [f for f in body.get("functions") or [] if isinstance(f, dict)]
    if functions and (domain.startswith("generalv3") or domain == "4.0Ultra"):
        payload["functions"] = {"text": functions}
    return {"header": header, "parameter": {"chat": chat}, "payload": payload}


def xunfei_error(code: int, message: str) -> UpstreamError:
    """A Spark error frame (`header.code` ≠ 0) as an UpstreamError."""
    if code in _MODERATION:
        return provider_error(f"content filtered by Xunfei Spark: {message}", 400, "content_filter")
    return provider_error(message, _STATUS_BY_CODE.get(code, 500), str(code))


class XunfeiStream(StreamTranslator):
    """Translates Spark's answer frames (one WebSocket message each) into OpenAI chunks."""

    def __init__(self, call: Call, model: str) -> None:
        self.state = StreamState()
        self._writer = ChunkWriter(call, model, self.state)

    def feed(self, data: bytes) -> list[bytes]:
        if self.state.error is not None:
            return []
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        header = frame.get("header") if isinstance(frame, dict) else None
        if not isinstance(header, dict):
            return []
        code = header.get("code")
        if isinstance(code, int) and code != 0:
            return self._writer.error(xunfei_error(code, str(header.get("message") or "")))
        payload = obj(frame.get("payload"))
        usage = from_openai(obj(payload.get("usage")).get("text"))
        if usage is not None:
            self.state.usage = usage
        choices = payload.get("choices")
        if not isinstance(choices, dict):
            return []  # web-search "plugins" frames carry no choices
        out: list[bytes] = []
        for item in choices.get("text") or []:
            if isinstance(item, dict):
                out.extend(self._item(item))
        if choices.get("status", header.get("status")) == 2 and not self._writer.finished:
            self.state.finished = True
            out.append(self._writer.finish("tool_calls" if self._writer.calls else "stop"))
        return out

    def _item(self, item: dict[str, Any]) -> list[bytes]:
        reasoning, content = item.get("reasoning_content"), item.get("content")
        out = self._writer.reasoning(reasoning) if isinstance(reasoning, str) and reasoning else []
        out += self._writer.content(content) if isinstance(content, str) and content else []
        call = item.get("function_call")
        if isinstance(call, dict):
            # Spark sends each function call whole and without an id; every one starts a new OpenAI tool call.
            out += self._writer.fragment({"index": len(self._writer.calls), "function": call})
        return out

    def close(self, usage: Usage | None) -> list[bytes]:
        return self._writer.close(usage)


class XunfeiAdaptor(Adaptor):
    """Translator for Spark's WebSocket API; every answer is a stream (the pipeline assembles whole ones)."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(f"channel type {target.type.label} does not support {call.path}")
        parts = target.channel.key.split("|")
        if len(parts) != 3 or not all(parts):
            raise UpstreamError("Xunfei channel key must be APPID|APISecret|APIKey", status_code=500,
                                code="invalid_channel_key", retryable=True)
        app_id, api_secret, api_key = (part.strip() for part in parts)
        path, domain = endpoint(version_of(target.model, target.channel.config))
        url = sign_url(socket_base(target.channel.base_url) + path, api_key, api_secret, formatdate(usegmt=True))
        frame = request_frame(call, app_id, domain)
        return UpstreamRequest("GET", url, {}, stream=True, transport="websocket",
                               frames=[orjson.dumps(frame).decode()])

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        raise bad_answer("Xunfei Spark answers only over its WebSocket")

    def translator(self, call: Call, target: Target) -> XunfeiStream:
        return XunfeiStream(call, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        data = json_of(body)
        header = data.get("header") if isinstance(data, dict) else None
        if isinstance(header, dict) and isinstance(header.get("code"), int) and header["code"]:
            return xunfei_error(header["code"], str(header.get("message") or ""))
        return upstream_error(status, body)
