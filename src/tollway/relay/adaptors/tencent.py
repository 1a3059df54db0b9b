"""Tencent Hunyuan (TencentCloud API 3.0, channel type 23): TC3-signed ChatCompletions and GetEmbedding."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import image_url_of, inputs_of, text_of
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
from tollway.relay.adaptors.tencent_sign import authorization
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

SERVICE = "hunyuan"
VERSION = "2023-09-01"
_FINISH = {"stop": "stop", "tool_calls": "tool_calls", "sensitive": "content_filter", "length": "length"}
_QUOTA_MARKS = ("Exhausted", "ServiceNotActivated", "ServiceStop", "Arrears")


def error_for(code: str, message: str) -> UpstreamError:
    """An UpstreamError from a TencentCloud error code (sent with HTTP 200)."""
    if code.startswith("AuthFailure"):
        status = 401
    elif "LimitExceeded" in code:
        status = 429  # LimitExceeded, RequestLimitExceeded, FailedOperation.EngineServerLimitExceeded
    elif code.startswith(("InvalidParameter", "MissingParameter", "UnknownParameter", "InvalidAction")):
        status = 400
    elif code.startswith(("UnauthorizedOperation", "OperationDenied", "ResourceInsufficient")) or any(
            mark in code for mark in _QUOTA_MARKS):
        status = 403
    else:
        status = 500
    return UpstreamError(message or code or "Hunyuan error", status_code=status, error_type="tencent_error",
                         code=code or f"upstream_{status}", retryable=status != 400)


def _error_in(data: Any) -> UpstreamError | None:
    """`Response.Error`, a bare `Error`, or a stream's `ErrorMsg`."""
    if not isinstance(data, dict):
        return None
    inner = data.get("Response")
    if isinstance(inner, dict):
        data = inner
    error = data.get("Error")
    if isinstance(error, dict) and (error.get("Code") or error.get("Message")):
        return error_for(str(error.get("Code") or ""), str(error.get("Message") or ""))
    stream_error = data.get("ErrorMsg")
    if isinstance(stream_error, dict) and stream_error.get("Msg"):
        return error_for(str(stream_error.get("Code") or "FailedOperation"), str(stream_error["Msg"]))
    return None


def _keys(key: str) -> tuple[str, str]:
    parts = [part.strip() for part in key.split("|")]
    if len(parts) == 3:
        parts = parts[1:]  # AppId|SecretId|SecretKey; the AppId is not used by API 3.0
    if len(parts) != 2 or not all(parts):
        raise UpstreamError("a Tencent channel key must be AppId|SecretId|SecretKey", status_code=401,
                            code="invalid_channel_key", retryable=True)
    return parts[0], parts[1]


def _contents(content: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            out.append({"Type": "text", "Text": str(part.get("text") or "")})
        elif part.get("type") == "image_url":
            out.append({"Type": "image_url", "ImageUrl": {"Url": image_url_of(part) or ""}})
    return out


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = {"developer": "system", "function": "tool"}.get(str(message.get("role")), str(message.get("role")))
    content = message.get("content")
    out: dict[str, Any] = {"Role": role}
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
        out["Contents"] = _contents(content)
    else:
        out["Content"] = text_of(content)
    calls = message.get("tool_calls")
    if role == "assistant" and isinstance(calls, list) and calls:
        out["ToolCalls"] = [{"Id": str(call.get("id") or tool_call_id()), "Type": "function",
                             "Function": {"Name": str((call.get("function") or {}).get("name") or ""),
                                          "Arguments": str((call.get("function") or {}).get("arguments") or "{}")}}
                            for call in calls if isinstance(call, dict)]
    if role == "tool":
        out["ToolCallId"] = str(message.get("tool_call_id") or "")
    return out


def messages_of(messages: list[Any]) -> list[dict[str, Any]]:
    """Hunyuan's Messages: one leading system message, then turns; consecutive user texts are merged."""
    system = [text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    out: list[dict[str, Any]] = [{"Role": "system", "Content": "\n".join(system)}] if system else []
    for message in messages:
        if message.get("role") in ("system", "developer"):
            continue
        turn = _message(message)
        last = out[-1] if out else None
        if last and last["Role"] == turn["Role"] == "user" and "Content" in last and "Content" in turn:
            last["Content"] += "\n" + turn["Content"]
        else:
            out.append(turn)
    return out


def _tool(function: dict[str, Any]) -> dict[str, Any]:
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return {"Type": "function", "Function": {
        "Name": str(function.get("name") or ""), "Description": str(function.get("description") or ""),
        "Parameters": parameters if isinstance(parameters, str) else orjson.dumps(parameters).decode()}}


def chat_body(call: Call, target: Target) -> dict[str, Any]:
    """The ChatCompletions body (PascalCase)."""
    body = call.body
    out: dict[str, Any] = {"Model": target.model, "Messages": messages_of(body["messages"]), "Stream": call.stream}
    if isinstance(body.get("temperature"), int | float):
        out["Temperature"] = min(max(float(body["temperature"]), 0.0), 2.0)
    if isinstance(body.get("top_p"), int | float):
        out["TopP"] = min(max(float(body["top_p"]), 0.0), 1.0)
    tools = [_tool(t["function"]) for t in body.get("tools") or []
             if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if tools:
        out["Tools"] = tools
        choice = body.get("tool_choice")
        if choice in ("none", "auto"):
            out["ToolChoice"] = choice
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
            chosen = next((t for t in tools if t["Function"]["Name"] == name), None)
            if chosen is not None:
                out["ToolChoice"], out["CustomTool"] = "custom", chosen
    return out


def _usage(data: dict[str, Any]) -> Usage | None:
    usage = data.get("Usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion_tokens = int(usage.get("PromptTokens") or 0), int(usage.get("CompletionTokens") or 0)
    if not prompt and not completion_tokens and usage.get("TotalTokens"):
        prompt = int(usage["TotalTokens"])  # embeddings report the prompt as the total
    return Usage(prompt, completion_tokens) if prompt or completion_tokens else None


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for call in message.get("ToolCalls") or []:
        function = call.get("Function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            calls.append(tool_call(str(call.get("Id") or tool_call_id()), str(function.get("Name") or ""),
                                   str(function.get("Arguments") or "")))
    return calls


class TencentStream(LineStream):
    """Hunyuan's unwrapped `data: {json}` chunks (Delta, FinishReason, cumulative Usage) as OpenAI chunks."""

    def __init__(self, call: Call, model: str) -> None:
        super().__init__()
        self.out = ChunkWriter(call, model, self.state)

    def line(self, line: bytes) -> list[bytes]:
        chunk = data_object(line, bare=True)  # bare: a JSON error body instead of events
        if chunk is None or self.state.error is not None or self.state.finished:
            return []
        error = _error_in(chunk)
        if error is not None:
            return self.out.error(error)
        self.out.begin(str(chunk.get("Id") or ""), int(chunk.get("Created") or 0))
        usage = _usage(chunk)
        if usage is not None:
            self.state.usage = usage  # cumulative: the last one counts
        out: list[bytes] = []
        for part in chunk.get("Choices") or []:
            if not isinstance(part, dict):
                continue
            delta = part.get("Delta")
            if not isinstance(delta, dict):
                delta = {}
            if delta.get("ReasoningContent"):
                out += self.out.reasoning(str(delta["ReasoningContent"]))
            out += self.out.content(str(delta.get("Content") or ""))
            for call in delta.get("ToolCalls") or []:
                function = call.get("Function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    key = str(call["Id"]) if call.get("Id") else None
                    out += self.out.keyed_call(key, str(function.get("Name") or ""),
                                               str(function.get("Arguments") or ""))
            reason = str(part.get("FinishReason") or "")
            if reason:
                out.append(self.out.finish(_FINISH.get(reason, "stop")))
            break  # Hunyuan answers with one choice
        return out

    def end(self, usage: Usage | None) -> list[bytes]:
        return self.out.end(usage)


class TencentAdaptor(Adaptor):
    """Translator for Hunyuan's API 3.0 actions ChatCompletions and GetEmbedding."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        secret_id, secret_key = _keys(target.channel.key)
        url = (target.channel.base_url or target.type.base_url).rstrip("/") + "/"
        if call.mode is Mode.EMBEDDINGS:
            action, body = "GetEmbedding", {"InputList": inputs_of(call)}
        elif call.mode is Mode.CHAT:
            action = "ChatCompletions"
            body = chat_body(call, target)
        else:
            raise not_served(target.type.label, call.path)
        payload = orjson.dumps(body)
        timestamp = int(time.time())
        # Sign exactly what is sent, including the Host of the channel's base URL.
        signed = {"Content-Type": "application/json", "Host": urlsplit(url).netloc,
                  "X-TC-Action": action}
        headers = {**signed, "X-TC-Version": VERSION, "X-TC-Timestamp": str(timestamp),
                   "Authorization": authorization(secret_id, secret_key, service=SERVICE, timestamp=timestamp,
                                                  headers=signed, payload=payload)}
        region = target.channel.config.get("region")
        if isinstance(region, str) and region:
            headers["X-TC-Region"] = region
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return UpstreamRequest("POST", url, headers, payload, stream=call.stream and call.mode is Mode.CHAT)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        error = _error_in(data)
        if error is not None:
            raise error
        response = data.get("Response")
        if not isinstance(response, dict):
            response = data
        usage = _usage(response)
        if call.mode is Mode.EMBEDDINGS:
            vectors = [(int(item.get("Index", i)), item.get("Embedding") or [])
                       for i, item in enumerate(response.get("Data") or []) if isinstance(item, dict)]
            return Answer(200, embeddings(call, target.model, vectors, usage), "application/json", usage=usage)
        first = next((c for c in response.get("Choices") or [] if isinstance(c, dict)), {})
        said = first.get("Message")
        if not isinstance(said, dict):
            said = {}
        calls = _tool_calls(said)
        content = str(said.get("Content") or "")
        reasoning = str(said.get("ReasoningContent") or "")
        finish = "tool_calls" if calls else _FINISH.get(str(first.get("FinishReason") or "stop"), "stop")
        reply = assistant_message(content if content or not calls else None, reasoning=reasoning, tool_calls=calls)
        answer = completion(call, target.model, [choice(0, reply, finish)], usage,
                            answer_id=str(response.get("Id") or response.get("RequestId") or ""),
                            created=int(response.get("Created") or 0))
        return Answer(200, answer, "application/json", usage=usage, text=reasoning + answer_text(content, calls))

    def translator(self, call: Call, target: Target) -> TencentStream:
        return TencentStream(call, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return _error_in(json_of(body)) or upstream_error(status, body)
