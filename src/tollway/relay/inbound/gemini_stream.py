"""An OpenAI chat stream as Gemini's `streamGenerateContent?alt=sse`: one `data: {GenerateContentResponse}` per event.

Text and thoughts go out as they come. Function calls are whole in Gemini (`args` is an object), so their
argument fragments are collected and the calls sent with the last event, which carries the finishReason and
the usage. Gemini's stream has no end marker, and an error after the start is a `data: {"error": …}` event.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import TollwayError
from tollway.relay import sse
from tollway.relay.inbound.chat_stream import ChatStreamReader
from tollway.relay.inbound.gemini_reply import candidate, chunk, error_object, finish_of, function_call, usage_metadata
from tollway.relay.inbound.gemini_request import GeminiAsk
from tollway.relay.inbound.ids import object_id
from tollway.relay.usage import Usage


class GeminiStream(ChatStreamReader):
    """Writes a Gemini SSE stream from the OpenAI chat stream of one answer, one candidate per choice."""

    def __init__(self, ask: GeminiAsk, *, request_id: str = "") -> None:
        super().__init__()
        self.ask = ask
        self.id = object_id("resp").removeprefix("resp_")
        self.request_id = request_id
        self.started = False
        self._calls: dict[int, dict[int, list[str]]] = {}  # choice → call index → [id, name, argument pieces…]
        self._finish: dict[int, str] = {}

    def _event(self, candidates: list[dict[str, Any]], usage: Usage | None = None, *, last: bool = False) -> bytes:
        self.started = True
        meta = usage_metadata(usage) if last else None
        return sse.frame(orjson.dumps(chunk(self.ask, self.id, candidates, meta)))

    def on_text(self, choice: int, text: str) -> list[bytes]:
        return [self._event([candidate(choice, [{"text": text}])])]

    def on_reasoning(self, choice: int, text: str) -> list[bytes]:
        if not self.ask.thoughts:
            return []
        return [self._event([candidate(choice, [{"text": text, "thought": True}])])]

    def on_call(self, choice: int, index: int, call_id: str, name: str) -> list[bytes]:
        self._calls.setdefault(choice, {})[index] = [call_id, name]
        return []

    def on_arguments(self, choice: int, index: int, text: str) -> list[bytes]:
        found = self._calls.get(choice, {}).get(index)
        if found is not None:
            found.append(text)
        return []

    def on_finish(self, choice: int, reason: str) -> list[bytes]:
        self._finish[choice] = reason
        return []

    def on_failure(self, error: TollwayError) -> list[bytes]:
        if not self.started:
            return []  # nothing was sent: the pipeline may still try another channel
        return [sse.frame(orjson.dumps(error_object(error, self.request_id)))]

    def on_close(self, usage: Usage | None) -> list[bytes]:
        candidates = []
        for index in sorted({0, *self._calls, *self._finish}):
            calls = self._calls.get(index, {})
            parts = [function_call(found[0], found[1], "".join(found[2:])) for _, found in sorted(calls.items())]
            finish = finish_of(self._finish.get(index), bool(calls))
            candidates.append(candidate(index, parts or [{"text": ""}], finish))
        return [self._event(candidates, usage, last=True)]
