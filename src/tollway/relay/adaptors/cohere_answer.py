"""Cohere v1 chat answers as OpenAI answers: whole JSON, the JSON-lines stream, usage, finish reasons, errors."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Answer
from tollway.relay.adaptors.failures import json_object, provider_error, upstream_error
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import (
    ChunkWriter,
    assistant_message,
    choice,
    completion,
    tool_call,
    tool_call_id,
)
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

_FINISH: dict[str, str] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "USER_CANCEL": "stop",
    "MAX_TOKENS": "length",
    "ERROR_LIMIT": "length",
    "ERROR_TOXIC": "content_filter",
    "TOOL_CALL": "tool_calls",
}
# Error types Cohere's statuses need beyond those every status implies.
_TYPES: dict[int, str] = {402: "insufficient_quota", 422: "invalid_request_error"}
_CODES: dict[int, str] = {401: "invalid_api_key", 402: "insufficient_quota", 429: "rate_limit_exceeded"}


def cohere_error(status: int, body: bytes) -> UpstreamError:
    """A failed Cohere answer (`{"message": ...}`); 498 is Cohere's invalid-token status."""
    found = upstream_error(status, body)
    http = 401 if found.status_code == 498 else found.status_code
    return provider_error(found.message, http, _CODES.get(http) or found.code or f"upstream_{http}",
                          kind=_TYPES.get(http, ""))


def generation_failed(reason: str) -> UpstreamError:
    """Cohere ended the generation with finish_reason ERROR: a provider-side failure another channel may not have."""
    return UpstreamError(f"Cohere failed to generate the answer (finish_reason {reason})", status_code=502,
                         error_type="server_error", code="generation_error", retryable=True)


def finish_reason(reason: Any, has_tool_calls: bool) -> str:
    """OpenAI's finish_reason for a Cohere one."""
    return "tool_calls" if has_tool_calls else _FINISH.get(str(reason), "stop")


def cohere_usage(meta: Any) -> Usage | None:
    """Usage from `meta.billed_units` (what Cohere charges), else `meta.tokens`."""
    if not isinstance(meta, dict):
        return None
    for name in ("billed_units", "tokens"):
        units = meta.get(name)
        if isinstance(units, dict):
            prompt, completion = units.get("input_tokens"), units.get("output_tokens")
            prompt = int(prompt) if isinstance(prompt, int | float) else 0
            completion = int(completion) if isinstance(completion, int | float) else 0
            if prompt or completion:
                return Usage(prompt, completion)
    return None


def _tool_calls(calls: Any, text: list[str]) -> list[dict[str, Any]]:
    found = []
    for call in calls if isinstance(calls, list) else ():
        if isinstance(call, dict):
            name = str(call.get("name") or "")
            arguments = orjson.dumps(call.get("parameters") or {}).decode()
            text += [name, arguments]
            found.append(tool_call(tool_call_id(), name, arguments))
    return found


def cohere_answer(call: Call, body: bytes) -> Answer:
    """A whole v1 chat answer as an OpenAI chat.completion."""
    data = json_object(body, other="an unexpected JSON body")
    if "text" not in data and "tool_calls" not in data:
        raise cohere_error(502, body)  # One API's test: an answer without text is Cohere's error object
    if data.get("finish_reason") == "ERROR":
        raise generation_failed("ERROR")
    text: list[str] = []
    calls = _tool_calls(data.get("tool_calls"), text)
    said = str(data.get("text") or "")
    text.insert(0, said)
    reply = assistant_message(said if said or not calls else None, tool_calls=calls)
    usage = cohere_usage(data.get("meta"))
    answer_id = data.get("response_id") or data.get("generation_id")
    answer = completion(call, call.model, [choice(0, reply, finish_reason(data.get("finish_reason"), bool(calls)))],
                        usage, answer_id=f"chatcmpl-{answer_id}" if answer_id else "")
    return Answer(200, answer, "application/json", usage=usage, text="".join(text))


class CohereStream(LineStream):
    """Translates Cohere's JSON-lines chat stream (`event_type` per line) into OpenAI chunks."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._writer = ChunkWriter(call, call.model, self.state, logprobs=False)

    def line(self, line: bytes) -> list[bytes]:
        # JSON lines as Cohere sends them; `data:` framing too, as some proxies re-frame the stream as SSE.
        event = data_object(line, bare=True)
        return self._translate(event) if event is not None else []

    def end(self, usage: Usage | None) -> list[bytes]:
        return self._writer.close(usage)

    def _translate(self, event: dict[str, Any]) -> list[bytes]:
        kind, writer = event.get("event_type"), self._writer
        if kind is None and event.get("message"):
            return writer.error(cohere_error(500, orjson.dumps(event)))
        if kind == "stream-start" and event.get("generation_id"):
            writer.begin(f"chatcmpl-{event['generation_id']}")
        elif kind == "text-generation" and event.get("text"):
            return writer.content(str(event["text"]))
        elif kind == "tool-calls-chunk":
            return self._tool_chunk(event)
        elif kind == "tool-calls-generation" and not writer.calls:
            # The calls came whole (no chunks before them): send each as OpenAI's two deltas.
            return [piece for index, tool in enumerate(_tool_calls(event.get("tool_calls"), []))
                    for piece in writer.tool_call(index, tool["id"], tool["function"]["name"],
                                                  tool["function"]["arguments"])]
        elif kind == "stream-end":
            return self._end(event)
        return []

    def _tool_chunk(self, event: dict[str, Any]) -> list[bytes]:
        delta = event.get("tool_call_delta")
        if not isinstance(delta, dict):
            text = event.get("text")
            return self._writer.content(text) if isinstance(text, str) and text else []
        index: int = delta["index"] if isinstance(delta.get("index"), int) else len(self._writer.calls)
        out = self._writer.tool_call(index, tool_call_id(), str(delta["name"])) if delta.get("name") else []
        parameters = delta.get("parameters")
        return out + (self._writer.arguments(index, parameters) if isinstance(parameters, str) else [])

    def _end(self, event: dict[str, Any]) -> list[bytes]:
        response: dict[str, Any] = event["response"] if isinstance(event.get("response"), dict) else {}
        reason = event.get("finish_reason") or response.get("finish_reason")
        usage = cohere_usage(response.get("meta"))
        if usage is not None:
            self.state.usage = usage
        self.state.finished = True
        if reason == "ERROR":
            return self._writer.error(generation_failed(str(reason)))
        return [self._writer.delta({}, finish_reason(reason, bool(self._writer.calls)))]
