"""Zhipu's legacy v3 API (chatglm_turbo, chatglm_pro, chatglm_std, chatglm_lite): bodies, answers and its SSE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Answer
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import json_of
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import ChunkWriter, text_answer
from tollway.relay.calls import Call
from tollway.relay.usage import Usage, from_openai

# Reads a Zhipu error body (data, HTTP status) into an UpstreamError, or None when it is not one.
ErrorReader = Callable[[Any, int], UpstreamError | None]


def v3_body(call: Call, messages: list[Any]) -> dict[str, Any]:
    """The v3 body: `prompt` turns of plain text; `incremental` so that stream events carry deltas."""
    body: dict[str, Any] = {"prompt": [{"role": m.get("role"), "content": text_of(m.get("content"))}
                                       for m in messages if isinstance(m, dict)]}
    for name in ("temperature", "top_p"):
        value = call.body.get(name)
        if isinstance(value, int | float):
            body[name] = min(max(float(value), 0.01), 0.99)  # v3 takes both in the open interval (0, 1)
    if call.stream:
        body["incremental"] = True
    return body


def unquote(content: str) -> str:
    """v3 wraps each answer in an extra pair of quotes (a JSON string inside the string): take it out."""
    if len(content) >= 2 and content[0] == content[-1] == '"':
        try:
            inner = orjson.loads(content)
        except orjson.JSONDecodeError:
            return content[1:-1]
        return inner if isinstance(inner, str) else content[1:-1]
    return content


def _usage(data: Any) -> Usage | None:
    usage = from_openai(data)
    if usage is None or not isinstance(data, dict) or data.get("prompt_tokens") or data.get("completion_tokens"):
        return usage
    return None  # only a total: let the gateway count both sides rather than bill it all as prompt


def v3_answer(call: Call, data: dict[str, Any], model: str) -> Answer:
    """A whole v3 answer (`{"success": true, "data": {choices, usage, task_id}}`) as a chat.completion."""
    inner = data.get("data")
    if not isinstance(inner, dict):
        inner = {}
    choices = [c for c in inner.get("choices") or [] if isinstance(c, dict)]
    content = "".join(unquote(str(c.get("content") or "")) for c in choices)
    usage = _usage(inner.get("usage"))
    answer_id = str(inner.get("task_id") or inner.get("request_id") or "")
    answer = text_answer(call, model, content, usage, answer_id=answer_id)
    return Answer(200, answer, "application/json", usage=usage, text=content)


class V3Stream(LineStream):
    """v3 events (`event:add|finish|error|interrupted`, `id:`, raw-text `data:` lines, `meta:{usage}`) as chunks."""

    def __init__(self, call: Call, model: str, read_error: ErrorReader) -> None:
        super().__init__()
        self.out = ChunkWriter(call, model, self.state)
        self.read_error = read_error
        self._event = ""
        self._id = ""
        self._data: list[str] = []
        self._meta = ""

    def line(self, line: bytes) -> list[bytes]:
        if not line:
            return self._dispatch()
        text = line.decode("utf-8", "replace")
        field, _, value = text.partition(":")
        if field == "event":
            self._event = value.strip()
        elif field == "id":
            self._id = value.strip()
        elif field == "data":
            self._data.append(value)  # raw text: keep its spaces
        elif field == "meta":
            self._meta = value
        elif text.startswith("{"):
            error = self.read_error(json_of(text), 500)  # a JSON error body where events were expected
            if error is not None:
                return self.out.error(error)
        return []

    def _dispatch(self) -> list[bytes]:
        event, text, meta = self._event, "\n".join(self._data), self._meta
        self._event, self._data, self._meta = "", [], ""
        if not event and not self._id and not text and not meta:
            return []
        if self.state.error is not None or self.state.finished:
            return []
        self.out.begin(self._id, 0)
        if event in ("error", "interrupted"):
            return self.out.error(UpstreamError(
                text or f"Zhipu ended the answer with event {event}", status_code=500, error_type="zhipu_error",
                code=f"zhipu_{event}", retryable=True))
        out = self.out.content(text)
        if event == "finish":
            meta_data = json_of(meta)
            usage = _usage(meta_data.get("usage")) if isinstance(meta_data, dict) else None
            if usage is not None:
                self.state.usage = usage
            out.append(self.out.finish("stop"))
        return out

    def end(self, usage: Usage | None) -> list[bytes]:
        return self._dispatch() + self.out.end(usage)  # an event the stream ended without a blank line after

