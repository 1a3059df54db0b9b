"""Coze's streams (v3 `event:conversation.*` events, v2 `message` / `done` events) as OpenAI chunks, and its errors."""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.failures import json_of, obj, provider_error
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import ChunkWriter
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

_STATUS_BY_CODE = {4100: 401, 4101: 401, 4013: 429}


def coze_error(code: Any, message: str, status: int = 502) -> UpstreamError:
    """Coze's error code (sent with HTTP 200 in a body, or in a stream event) as an UpstreamError."""
    number = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if isinstance(code, str) and code.isdigit():
        number = int(code)
    if number in _STATUS_BY_CODE:
        mapped = _STATUS_BY_CODE[number]
    elif 4000 <= number < 5000:
        mapped = 400
    elif number:
        mapped = 500
    else:
        mapped = status if status >= 400 else 502
    return provider_error(message or f"Coze error {code}", mapped, str(code or "coze_error"))


def usage_of(data: Any) -> Usage | None:
    """A v3 chat's usage (`input_count`, `output_count`)."""
    if not isinstance(data, dict):
        return None
    prompt, completion = data.get("input_count"), data.get("output_count")
    if not isinstance(prompt, int) or not isinstance(completion, int) or prompt + completion <= 0:
        return None
    return Usage(prompt, completion)


class CozeStream(LineStream):
    """Translates a v3 stream, or with `legacy` a v2 one (event named in the JSON or on an `event:` line)."""

    def __init__(self, call: Call, model: str, *, legacy: bool = False) -> None:
        super().__init__()
        self._writer = ChunkWriter(call, model, self.state)
        self._legacy = legacy
        self._event = ""

    def line(self, line: bytes) -> list[bytes]:
        if not line:
            self._event = ""
            return []
        if line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
            return []
        payload = sse.data_of(line)
        if payload is None or self.state.error is not None:
            return []
        event = json_of(payload)
        name = self._event
        if self._legacy and isinstance(event, dict) and isinstance(event.get("event"), str):
            name = event["event"]
        if name == "done" or event == "[DONE]":
            return self._finish()
        if not isinstance(event, dict):
            return []
        if name == "error" or (not name and event.get("code")):
            details = obj(event.get("error_information")) or event
            return self._fail(coze_error(details.get("code") or 0, str(details.get("msg") or "Coze stream error")))
        if self._legacy:
            return self._v2(name, event)
        return self._v3(name, event)

    def _v3(self, name: str, event: dict[str, Any]) -> list[bytes]:
        if name == "conversation.message.delta" and event.get("type") == "answer":
            return self._delta(event)
        if name == "conversation.chat.completed":
            self.state.usage = usage_of(event.get("usage")) or self.state.usage
            return self._finish()
        if name in ("conversation.chat.failed", "conversation.chat.requires_action"):
            error = obj(event.get("last_error"))
            message = str(error.get("msg") or "")
            if name.endswith("requires_action"):
                message = "the bot asked for tool outputs, which Tollway cannot supply"
            return self._fail(coze_error(error.get("code") or 0, message or "Coze chat failed"))
        # Chat created / in progress, and message.completed (which repeats the whole text), add nothing.
        return []

    def _v2(self, name: str, event: dict[str, Any]) -> list[bytes]:
        message = event.get("message")
        if name in ("message", "") and isinstance(message, dict) and message.get("type") == "answer":
            return self._delta(message)
        return []

    def _delta(self, message: dict[str, Any]) -> list[bytes]:
        reasoning, content = message.get("reasoning_content"), message.get("content")
        out = self._writer.reasoning(reasoning) if isinstance(reasoning, str) and reasoning else []
        return out + (self._writer.content(content) if isinstance(content, str) and content else [])

    def _finish(self) -> list[bytes]:
        if self._writer.finished:
            return []
        self.state.finished = True
        return [self._writer.finish("stop")]

    def _fail(self, error: UpstreamError) -> list[bytes]:
        return self._writer.error(error)

    def end(self, usage: Usage | None) -> list[bytes]:
        return self._writer.close(usage)
