"""Zhipu GLM (BigModel, channel type 16): JWT auth; v4 (OpenAI-like) chat, embeddings and images; legacy v3 chat."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.content import inputs_of
from tollway.relay.adaptors.failures import json_object, json_of, not_served, upstream_error
from tollway.relay.adaptors.openai import OpenAIStream
from tollway.relay.adaptors.openai_out import answer_text, embeddings, error_frame
from tollway.relay.adaptors.zhipu_v3 import V3Stream, v3_answer, v3_body
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage, from_openai

TOKEN_LIFETIME_MS = 3600 * 1000


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _split(key: str) -> tuple[str, str]:
    key_id, sep, secret = key.strip().partition(".")
    if not sep or not key_id or not secret:
        raise UpstreamError("a Zhipu channel key must be id.secret", status_code=401, code="invalid_channel_key",
                            retryable=True)
    return key_id, secret


def jwt(key: str, *, now_ms: int | None = None, lifetime_ms: int = TOKEN_LIFETIME_MS) -> str:
    """The HS256 token Zhipu wants for an `id.secret` key: `api_key`, `exp` and `timestamp` in milliseconds."""
    key_id, secret = _split(key)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    header = _b64url(orjson.dumps({"alg": "HS256", "sign_type": "SIGN"}))
    payload = _b64url(orjson.dumps({"api_key": key_id, "exp": now + lifetime_ms, "timestamp": now}))
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def error_for(code: Any, message: str, status: int) -> UpstreamError:
    """An UpstreamError from Zhipu's business code (a string in v4, a number in v3) and the HTTP status."""
    text = str(code or "")
    number = int(text) if text.isdigit() else 0
    if number == 1234:
        status = 500  # Zhipu's network error: worth another try
    elif 1000 <= number < 1100:
        status = 401  # authentication: missing, invalid or expired token
    elif 1100 <= number < 1200:
        status = 403  # account: inactive, locked, in arrears
    elif 1200 <= number < 1302:
        status = 400  # model, parameters, prompt length, content safety
    elif 1302 <= number < 1400:
        status = 429  # concurrency, frequency and daily limits
    elif status < 400:
        status = 500  # an error sent with HTTP 200 and an unknown code
    return UpstreamError(message or f"Zhipu error {text or status}", status_code=status, error_type="zhipu_error",
                         code=text or f"upstream_{status}", retryable=status != 400)


def body_error(data: Any, status: int) -> UpstreamError | None:
    """The error inside a Zhipu body: v4 `{"error": {code, message}}` or v3 `{"success": false, code, msg}`."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        return error_for(error.get("code"), str(error.get("message") or ""), status)
    if data.get("success") is False:
        return error_for(data.get("code"), str(data.get("msg") or ""), status)
    return None


def is_v4(model: str) -> bool:
    """One API's rule: `glm-*` models speak v4, the old `chatglm_*` ones v3."""
    return model.startswith("glm-")


class ZhipuV4Stream(StreamTranslator):
    """Zhipu's v4 stream read by OpenAIStream, with OpenAI's missing details put back: the chunks' `object`,
    and tool calls (which Zhipu sends whole, in one delta) split into a naming delta and an arguments delta."""

    def __init__(self, call: Call) -> None:
        self.inner = OpenAIStream(call)
        self.inner.whole_chunks = False  # _fix rewrites frames one event at a time
        self.state = self.inner.state

    def feed(self, data: bytes) -> list[bytes]:
        return [fixed for frame in self.inner.feed(data) for fixed in self._fix(frame)]

    def close(self, usage: Usage | None) -> list[bytes]:
        return [fixed for frame in self.inner.close(usage) for fixed in self._fix(frame)]

    def text(self) -> str:
        return self.inner.text()

    def _fix(self, frame: bytes) -> list[bytes]:
        payload = sse.data_of(frame.rstrip(b"\n"))
        if not payload or not payload.startswith(b"{"):
            return [frame]
        chunk = orjson.loads(payload)
        if self.state.error is not None and "error" in chunk:
            # OpenAIStream saw an error event; give it Zhipu's status and send it in OpenAI's error shape.
            self.state.error = body_error(chunk, 500) or self.state.error
            return [error_frame(self.state.error)]
        if b'"object"' in payload and b'"tool_calls"' not in payload:
            return [frame]
        chunk = {"object": "chat.completion.chunk", **chunk}
        choices: list[Any] = chunk.get("choices") or []
        choice: dict[str, Any] = choices[0] if len(choices) == 1 and isinstance(choices[0], dict) else {}
        delta: dict[str, Any] = choice.get("delta") or {}
        calls = delta.get("tool_calls")
        if not isinstance(calls, list) or not calls or not all(_whole_call(call) for call in calls):
            return [sse.frame(orjson.dumps(chunk))]
        head = {**chunk, "choices": [{**choice, "finish_reason": None, "delta": {**delta, "tool_calls": [
            {**call, "function": {**call["function"], "arguments": ""}} for call in calls]}}]}
        tail = {**chunk, "choices": [{**choice, "delta": {"tool_calls": [
            {"index": call.get("index", i), "function": {"arguments": call["function"]["arguments"]}}
            for i, call in enumerate(calls)]}}]}
        return [sse.frame(orjson.dumps(head)), sse.frame(orjson.dumps(tail))]


def _whole_call(call: Any) -> bool:
    """A tool call delta that names the function and carries its arguments at once."""
    function = call.get("function") if isinstance(call, dict) else None
    return isinstance(function, dict) and bool(function.get("name")) and bool(function.get("arguments"))


def _clamped(body: dict[str, Any]) -> dict[str, Any]:
    """Zhipu's ranges: temperature in [0, 1] (as One API clamps), top_p in the open interval (0, 1)."""
    out = dict(body)
    temperature = out.get("temperature")
    if isinstance(temperature, int | float):
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    top_p = out.get("top_p")
    if isinstance(top_p, int | float):
        out["top_p"] = 0.99 if top_p >= 1 else 0.01 if top_p <= 0 else float(top_p)
    return out


class ZhipuAdaptor(Adaptor):
    """Translator for Zhipu's BigModel API, v4 for `glm-*` models and v3 for the legacy ones."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        headers = {"Content-Type": "application/json", "Authorization": jwt(target.channel.key)}
        if call.mode is Mode.EMBEDDINGS:
            inputs = inputs_of(call)
            # One API sends one string; a list goes as it is (embedding-3 takes up to 64 inputs).
            body: dict[str, Any] = {"model": target.model, "input": inputs[0] if len(inputs) == 1 else inputs}
            if isinstance(call.body.get("dimensions"), int):
                body["dimensions"] = call.body["dimensions"]
            return UpstreamRequest("POST", f"{base}/api/paas/v4/embeddings", headers, orjson.dumps(body))
        if call.mode is Mode.IMAGES:
            return UpstreamRequest("POST", f"{base}/api/paas/v4/images/generations", headers,
                                   orjson.dumps(_image_body(call, target)))
        if call.mode is not Mode.CHAT:
            raise not_served(target.type.label, call.path)
        messages = call.body["messages"]
        if call.stream:
            headers["Accept"] = "text/event-stream"
        if not is_v4(target.model):
            method = "sse-invoke" if call.stream else "invoke"
            return UpstreamRequest("POST", f"{base}/api/paas/v3/model-api/{target.model}/{method}", headers,
                                   orjson.dumps(v3_body(call, messages)), stream=call.stream)
        body = _clamped(call.body)
        body["model"] = target.model
        body["messages"] = messages
        body.pop("stream_options", None)  # not Zhipu's; its streams carry usage on the last chunk anyway
        return UpstreamRequest("POST", f"{base}/api/paas/v4/chat/completions", headers, orjson.dumps(body),
                               stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        error = body_error(data, status)
        if error is not None:
            raise error
        if call.mode is Mode.EMBEDDINGS:
            vectors = [(int(item.get("index", i)), item.get("embedding") or [])
                       for i, item in enumerate(data.get("data") or []) if isinstance(item, dict)]
            usage = from_openai(data.get("usage"))
            return Answer(200, embeddings(call, str(data.get("model") or target.model), vectors, usage),
                          "application/json", usage=usage)
        if call.mode is Mode.IMAGES:
            images = {"created": int(data.get("created") or time.time()), "data": data.get("data") or []}
            return Answer(200, orjson.dumps(images), "application/json")
        if not is_v4(target.model):
            return v3_answer(call, data, target.model)
        usage = from_openai(data.get("usage"))
        text = ""
        for choice in data.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                text += str(message.get("reasoning_content") or "")
                text += answer_text(message.get("content") if isinstance(message.get("content"), str) else "",
                                    message.get("tool_calls") or [])
        return Answer(200, orjson.dumps({"object": "chat.completion", **data}), "application/json", usage=usage,
                      text=text)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        if is_v4(target.model):
            return ZhipuV4Stream(call)
        return V3Stream(call, target.model, body_error)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return body_error(json_of(body), status) or upstream_error(status, body)


def _image_body(call: Call, target: Target) -> dict[str, Any]:
    if call.body.get("n", 1) != 1:
        raise UpstreamError("Zhipu's image models make one image per request; send n=1", status_code=400,
                            error_type="invalid_request_error", code="invalid_n", param="n")
    if call.body.get("response_format") == "b64_json":
        raise UpstreamError("Zhipu's image models answer with URLs only; leave response_format as url",
                            status_code=400, error_type="invalid_request_error", code="invalid_response_format",
                            param="response_format")
    body: dict[str, Any] = {"model": target.model, "prompt": call.body["prompt"]}
    if isinstance(call.body.get("size"), str):
        body["size"] = call.body["size"]
    if isinstance(call.body.get("user"), str):
        body["user_id"] = call.body["user"]
    return body
