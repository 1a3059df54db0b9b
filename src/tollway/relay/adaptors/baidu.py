"""Baidu ERNIE (wenxinworkshop API, channel type 15): OAuth access token, chat, stream, functions, embeddings."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Exchange, Target, UpstreamRequest
from tollway.relay.adaptors.content import inputs_of, text_of
from tollway.relay.adaptors.failures import json_object, json_of, not_served, upstream_error
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import (
    ChunkWriter,
    answer_text,
    assistant_message,
    choice,
    completion,
    embeddings,
    tool_call,
    tool_call_id,
)
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

_ROOT = "/rpc/2.0/ai_custom/v1/wenxinworkshop"

# One API's model → endpoint table; any other model is its own lowercased name.
CHAT_ENDPOINTS = {
    "ERNIE-4.0": "completions_pro",
    "ERNIE-Bot-4": "completions_pro",
    "ERNIE-Bot": "completions",
    "ERNIE-Bot-turbo": "eb-instant",
    "ERNIE-Speed": "ernie_speed",
    "ERNIE-4.0-8K": "completions_pro",
    "ERNIE-3.5-8K": "completions",
    "ERNIE-3.5-8K-0205": "ernie-3.5-8k-0205",
    "ERNIE-3.5-8K-1222": "ernie-3.5-8k-1222",
    "ERNIE-Bot-8K": "ernie_bot_8k",
    "ERNIE-3.5-4K-0205": "ernie-3.5-4k-0205",
    "ERNIE-Speed-8K": "ernie_speed",
    "ERNIE-Speed-128K": "ernie-speed-128k",
    "ERNIE-Lite-8K-0922": "eb-instant",
    "ERNIE-Lite-8K-0308": "ernie-lite-8k",
    "ERNIE-Tiny-8K": "ernie-tiny-8k",
    "BLOOMZ-7B": "bloomz_7b1",
}
EMBEDDING_ENDPOINTS = {
    "Embedding-V1": "embedding-v1",
    "bge-large-zh": "bge_large_zh",
    "bge-large-en": "bge_large_en",
    "tao-8k": "tao_8k",
}

_FINISH = {"normal": "stop", "stop": "stop", "length": "length", "content_filter": "content_filter",
           "function_call": "tool_calls"}
_TOKEN_CODES = frozenset({100, 110, 111, 14})  # access token missing, invalid or expired; IAM failure
_LIMIT_CODES = frozenset({4, 17, 18, 19, 336501, 336502})  # daily, QPS, total, RPM and TPM limits
_PERMISSION_CODES = frozenset({6, 15})
_SERVER_CODES = frozenset({1, 2, 336000, 336100})  # unknown, unavailable, internal, "try again later"


def error_for(code: Any, message: str) -> UpstreamError:
    """The UpstreamError of a Baidu `error_code` (sent with HTTP 200)."""
    number = code if isinstance(code, int) else int(code) if str(code).isdigit() else -1
    if number in _TOKEN_CODES:
        status = 401
    elif number in _LIMIT_CODES:
        status = 429
    elif number in _PERMISSION_CODES:
        status = 403
    elif number in _SERVER_CODES:
        status = 503 if number in (2, 336100) else 500
    elif 336000 <= number < 337000:
        status = 400  # the request: model, parameters, content
    else:
        status = 500
    return UpstreamError(message or f"Baidu error {code}", status_code=status, error_type="baidu_error",
                         code=str(code), retryable=status != 400)


def _error_in(data: dict[str, Any]) -> UpstreamError | None:
    if data.get("error_code"):
        return error_for(data["error_code"], str(data.get("error_msg") or ""))
    return None


def _keys(key: str) -> tuple[str, str]:
    api_key, sep, secret = key.strip().partition("|")
    if not sep or not api_key or not secret:
        raise UpstreamError("a Baidu channel key must be APIKey|SecretKey", status_code=401,
                            code="invalid_channel_key", retryable=True)
    return api_key, secret


def _read_token(status: int, body: bytes) -> tuple[str, float]:
    """(access token, lifetime) from the OAuth answer; Baidu's `error` / `error_description` become a 401."""
    data = json_of(body)
    if isinstance(data, dict) and data.get("error"):
        raise UpstreamError(f"Baidu access token: {data['error']}: {data.get('error_description') or ''}".rstrip(": "),
                            status_code=401, error_type="baidu_error", code=str(data["error"]), retryable=True)
    if not isinstance(data, dict) or status >= 400 or not data.get("access_token"):
        raise upstream_error(status if status >= 400 else 502, body)
    return str(data["access_token"]), float(data.get("expires_in") or 2592000)


def _messages(messages: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """(system, alternating messages): system messages go to `system`; Baidu wants user/assistant turns
    that start and end with the user, so consecutive user turns are merged and leading assistant ones dropped."""
    system: list[str] = []
    names: dict[str, str] = {}  # tool call id → function name, for the tool results that follow
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = text_of(message.get("content"))
        if role in ("system", "developer"):
            system.append(content)
            continue
        if role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": content}
            calls = message.get("tool_calls") or []
            if calls and isinstance(calls[0], dict):
                function = calls[0].get("function") or {}
                names[str(calls[0].get("id"))] = str(function.get("name") or "")
                turn["function_call"] = {"name": function.get("name"), "arguments": function.get("arguments") or "{}"}
            elif isinstance(message.get("function_call"), dict):
                turn["function_call"] = message["function_call"]
            if not out:
                continue  # Baidu refuses a conversation that starts with the assistant
            if out[-1]["role"] == "assistant":
                out[-1]["content"] += "\n" + content
                continue
            out.append(turn)
        elif role in ("tool", "function"):
            name = message.get("name") or names.get(str(message.get("tool_call_id")), "")
            out.append({"role": "function", "name": name, "content": content})
        else:
            if out and out[-1]["role"] == "user":
                out[-1]["content"] += "\n" + content
                continue
            out.append({"role": "user", "content": content})
    return "\n".join(part for part in system if part), out


def chat_body(call: Call, target: Target) -> dict[str, Any]:
    """Baidu's chat body for an OpenAI chat call."""
    body = call.body
    system, turns = _messages(body["messages"])
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    if call.stream:
        out["stream"] = True
    temperature = body.get("temperature")
    if isinstance(temperature, int | float):
        out["temperature"] = min(max(float(temperature), 0.01), 1.0)  # Baidu takes (0, 1]
    top_p = body.get("top_p")
    if isinstance(top_p, int | float):
        out["top_p"] = min(max(float(top_p), 0.0), 1.0)
    penalty = body.get("penalty_score", body.get("frequency_penalty"))
    if isinstance(penalty, int | float) and penalty:
        # OpenAI's frequency_penalty is -2..2 (0 = none); Baidu's penalty_score is 1..2 (1 = none).
        score = float(penalty) if "penalty_score" in body else 1.0 + float(penalty) / 2
        out["penalty_score"] = min(max(score, 1.0), 2.0)
    if call.max_tokens:
        out["max_output_tokens"] = call.max_tokens
    stop = body.get("stop")
    if stop:
        out["stop"] = [stop] if isinstance(stop, str) else stop
    if isinstance(body.get("user"), str):
        out["user_id"] = body["user"]
    functions = [tool["function"] for tool in body.get("tools") or []
                 if isinstance(tool, dict) and isinstance(tool.get("function"), dict)]
    functions += [f for f in body.get("functions") or [] if isinstance(f, dict)]
    if functions:
        out["functions"] = [{key: f[key] for key in ("name", "description", "parameters") if key in f}
                            for f in functions]
    format_ = body.get("response_format")
    if isinstance(format_, dict) and format_.get("type") in ("json_object", "text"):
        out["response_format"] = format_["type"]
    return out


def _tool_calls(data: dict[str, Any]) -> list[dict[str, Any]]:
    function = data.get("function_call")
    if not isinstance(function, dict) or not function.get("name"):
        return []
    return [tool_call(tool_call_id(), str(function["name"]), str(function.get("arguments") or "{}"))]


def _usage(data: dict[str, Any]) -> Usage | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    total = int(usage.get("total_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    if not (prompt or total):
        return None
    # In streams `completion_tokens` counts one chunk while `total_tokens` is cumulative: derive it from the total.
    return Usage(prompt, max(total - prompt, completion_tokens) if total else completion_tokens)


class BaiduStream(LineStream):
    """Baidu's `data: {json}` chunks (result, is_end, usage, function_call) as OpenAI chunks."""

    def __init__(self, call: Call, model: str) -> None:
        super().__init__()
        self.out = ChunkWriter(call, model, self.state)

    def line(self, line: bytes) -> list[bytes]:
        chunk = data_object(line, bare=True)  # bare: an error body that is not SSE
        if chunk is None or self.state.error is not None:
            return []
        error = _error_in(chunk)
        if error is not None:
            return self.out.error(error)
        self.out.begin(str(chunk.get("id") or ""), int(chunk.get("created") or 0))
        usage = _usage(chunk)
        if usage is not None:
            self.state.usage = usage
        out = self.out.content(str(chunk.get("result") or ""))
        function = chunk.get("function_call")
        if isinstance(function, dict) and function.get("name"):
            out += self.out.keyed_call(None, str(function["name"]), str(function.get("arguments") or "{}"))
        if chunk.get("is_end") and not self.state.finished:
            reason = _FINISH.get(str(chunk.get("finish_reason") or "normal"), "stop")
            out.append(self.out.finish("tool_calls" if self.out.calls else reason))
        return out

    def end(self, usage: Usage | None) -> list[bytes]:
        return self.out.end(usage)


class BaiduAdaptor(Adaptor):
    """Translator for Baidu's wenxinworkshop API."""

    def credential(self, target: Target) -> Exchange:
        api_key, secret = _keys(target.channel.key)
        digest = hashlib.sha256(target.channel.key.encode()).hexdigest()[:16]
        query = urlencode({"grant_type": "client_credentials", "client_id": api_key, "client_secret": secret})
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        request = UpstreamRequest("POST", f"{base}/oauth/2.0/token?{query}",
                                  {"Content-Type": "application/json", "Accept": "application/json"})
        return Exchange(f"baidu:{target.channel.id}:{digest}", request, _read_token)

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        token = "?" + urlencode({"access_token": target.credential})
        headers = {"Content-Type": "application/json"}
        if call.mode is Mode.EMBEDDINGS:
            endpoint = EMBEDDING_ENDPOINTS.get(target.model, target.model.lower())
            body: dict[str, Any] = {"input": inputs_of(call)}
            if isinstance(call.body.get("user"), str):
                body["user_id"] = call.body["user"]
            return UpstreamRequest("POST", f"{base}{_ROOT}/embeddings/{endpoint}{token}", headers, orjson.dumps(body))
        if call.mode is not Mode.CHAT:
            raise not_served(target.type.label, call.path)
        endpoint = CHAT_ENDPOINTS.get(target.model, target.model.lower())
        chat = chat_body(call, target)
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return UpstreamRequest("POST", f"{base}{_ROOT}/chat/{endpoint}{token}", headers, orjson.dumps(chat),
                               stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        error = _error_in(data)
        if error is not None:
            raise error
        if call.mode is Mode.EMBEDDINGS:
            vectors = [(int(item.get("index", i)), item.get("embedding") or [])
                       for i, item in enumerate(data.get("data") or []) if isinstance(item, dict)]
            usage = _usage(data)
            return Answer(200, embeddings(call, target.model, vectors, usage), "application/json", usage=usage)
        content = str(data.get("result") or "")
        calls = _tool_calls(data)
        finish = "tool_calls" if calls else _FINISH.get(str(data.get("finish_reason") or "normal"), "stop")
        usage = _usage(data)
        reply = assistant_message(content if content or not calls else None, tool_calls=calls)
        answer = completion(call, target.model, [choice(0, reply, finish)], usage, answer_id=str(data.get("id") or ""),
                            created=int(data.get("created") or 0))
        return Answer(200, answer, "application/json", usage=usage, text=answer_text(content, calls))

    def translator(self, call: Call, target: Target) -> BaiduStream:
        return BaiduStream(call, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        data = json_of(body)
        found = _error_in(data) if isinstance(data, dict) else None
        return found or upstream_error(status, body)
