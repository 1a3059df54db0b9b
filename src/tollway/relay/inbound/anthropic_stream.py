"""An OpenAI chat stream as Anthropic's Messages stream, event by event in Anthropic's order.

    message_start, ping, then per content block content_block_start, content_block_delta…, content_block_stop
    (thinking, text, tool_use with input_json_delta), then message_delta (stop_reason, usage) and message_stop;
    or, once something was sent, an `error` event when the upstream fails.

Every event has an `event:` line: the anthropic SDK drops frames without one. Nothing is written before the
upstream says something, so a failure that comes first is still the pipeline's to retry.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import TollwayError
from tollway.relay.adaptors.anthropic_terms import stop_reason
from tollway.relay.inbound.anthropic_reply import anthropic_usage, error_object
from tollway.relay.inbound.anthropic_request import MessagesAsk
from tollway.relay.inbound.chat_stream import ChatStreamReader
from tollway.relay.inbound.ids import object_id
from tollway.relay.usage import Usage


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event: its `event:` line, its `data:` line and a blank line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessagesStream(ChatStreamReader):
    """Writes an Anthropic Messages stream from the OpenAI chat stream of one answer (its first choice)."""

    def __init__(self, ask: MessagesAsk, *, prompt_tokens: int = 0, request_id: str = "") -> None:
        super().__init__()
        self.ask = ask
        self.id = object_id("msg")
        # The prompt as the pipeline counted it: message_start must say something before the upstream's count.
        self.prompt_tokens = prompt_tokens
        self.request_id = request_id
        self.started = False
        self._block = -1  # index of the open content block, -1 when none is open
        self._kind = ""  # its type: "thinking", "text" or "tool_use"
        self._blocks = 0  # content blocks started so far
        self._tools: dict[int, int] = {}  # OpenAI call index → content block index
        self._finish: str | None = None
        self._called = False

    def _start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.ask.model,
                                   "content": [], "stop_reason": None, "stop_sequence": None,
                                   "usage": anthropic_usage(Usage(self.prompt_tokens))}
        return [event("message_start", {"type": "message_start", "message": message}),
                event("ping", {"type": "ping"})]

    def _stop_block(self) -> list[bytes]:
        if self._block < 0:
            return []
        index, self._block, self._kind = self._block, -1, ""
        return [event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _open(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        """Close the open block and start another."""
        out = self._start() + self._stop_block()
        self._block, self._kind = self._blocks, kind
        self._blocks += 1
        start = {"type": "content_block_start", "index": self._block, "content_block": block}
        return [*out, event("content_block_start", start)]

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def on_reasoning(self, choice: int, text: str) -> list[bytes]:
        if choice != 0 or not self.ask.thinking:
            return []
        out = [] if self._kind == "thinking" else self._open("thinking", {"type": "thinking", "thinking": "",
                                                                             "signature": ""})
        return [*out, self._delta(self._block, {"type": "thinking_delta", "thinking": text})]

    def on_text(self, choice: int, text: str) -> list[bytes]:
        if choice != 0:
            return []
        out = [] if self._kind == "text" else self._open("text", {"type": "text", "text": ""})
        return [*out, self._delta(self._block, {"type": "text_delta", "text": text})]

    def on_call(self, choice: int, index: int, call_id: str, name: str) -> list[bytes]:
        if choice != 0:
            return []
        self._called = True
        out = self._open("tool_use", {"type": "tool_use", "id": call_id, "name": name, "input": {}})
        self._tools[index] = self._block
        return out

    def on_arguments(self, choice: int, index: int, text: str) -> list[bytes]:
        if choice != 0 or index not in self._tools:
            return []
        # A late fragment of an earlier call (rare: OpenAI streams calls one after another) still goes to its block.
        return [self._delta(self._tools[index], {"type": "input_json_delta", "partial_json": text})]

    def on_finish(self, choice: int, reason: str) -> list[bytes]:
        if choice != 0:
            return []
        self._finish = reason
        return self._start() + self._stop_block()

    def on_failure(self, error: TollwayError) -> list[bytes]:
        if not self.started:
            return []  # nothing was sent: the pipeline may still try another channel
        return [event("error", error_object(error, self.request_id))]

    def on_close(self, usage: Usage | None) -> list[bytes]:
        out = self._start() + self._stop_block()
        finish = "tool_calls" if self._called and self._finish in (None, "stop") else self._finish
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason(finish), "stop_sequence": None},
                 "usage": anthropic_usage(usage or Usage(self.prompt_tokens))}
        return [*out, event("message_delta", delta), event("message_stop", {"type": "message_stop"})]
