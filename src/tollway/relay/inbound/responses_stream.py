"""An OpenAI chat stream as a Responses API stream, in the order OpenAI sends its events.

    response.created, response.in_progress, then per output item: response.output_item.added,
    (reasoning) response.content_part.added, response.reasoning_text.delta…/done, response.content_part.done;
    (message) response.content_part.added, response.output_text.delta…/done, response.content_part.done;
    (function call) response.function_call_arguments.delta…/done; then response.output_item.done;
    last response.completed (or response.incomplete) with the usage, or error and response.failed.

Every event carries a sequence_number from 0, and every lifecycle event the same response id: the openai
SDK's stream helper insists on response.created first, an item added before its content and every item done
before the end. Nothing is written before the upstream says something (a failure first is the pipeline's).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tollway.errors import TollwayError
from tollway.relay.inbound.chat_stream import ChatStreamReader
from tollway.relay.inbound.ids import object_id
from tollway.relay.inbound.responses_reply import (
    call_item,
    message_item,
    output_text,
    reasoning_item,
    response_object,
    status_of,
)
from tollway.relay.inbound.responses_request import ResponsesAsk
from tollway.relay.usage import Usage


class _Item:
    """One output item being streamed: its kind, id, position and what it has said so far."""

    def __init__(self, kind: str, item_id: str, index: int, call_id: str = "", name: str = "") -> None:
        self.kind = kind
        self.id = item_id
        self.index = index
        self.call_id = call_id
        self.name = name
        self.text: list[str] = []

    def final(self, status: str) -> dict[str, Any]:
        text = "".join(self.text)
        if self.kind == "message":
            return message_item(self.id, text, status)
        if self.kind == "reasoning":
            return reasoning_item(self.id, text, status)
        return call_item(self.id, self.call_id, self.name, text, status)


class ResponsesStream(ChatStreamReader):
    """Writes a Responses stream from the OpenAI chat stream of one answer (its first choice)."""

    def __init__(self, ask: ResponsesAsk) -> None:
        super().__init__()
        self.ask = ask
        self.id = object_id("resp")
        self.created = int(time.time())
        self.started = False
        self._sequence = 0
        self._open: _Item | None = None  # the reasoning or message item being written
        self._calls: dict[int, _Item] = {}  # function calls by OpenAI call index
        self._items: list[_Item] = []
        self._done: dict[int, dict[str, Any]] = {}  # finished items by output index
        self._finish: str | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _response(self, status: str, usage: Usage | None = None, **extra: Any) -> dict[str, Any]:
        output = [self._done.get(item.index) or item.final("incomplete") for item in self._items] \
            if status != "in_progress" else []
        return response_object(self.ask, self.id, self.created, status, output, usage, **extra)

    def _start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        snapshot = self._response("in_progress")
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=snapshot)]

    def _add(self, item: _Item, first: dict[str, Any]) -> list[bytes]:
        self._items.append(item)
        return [self._event("response.output_item.added", output_index=item.index, item=first)]

    def _part(self, item: _Item, kind: str, part: dict[str, Any]) -> bytes:
        return self._event(kind, item_id=item.id, output_index=item.index, content_index=0, part=part)

    def _begin(self, kind: str) -> list[bytes]:
        """Finish the open reasoning or message item and add another, with its content part."""
        out = self._start() + self._close_open()
        item = self._open = _Item(kind, object_id("rs" if kind == "reasoning" else "msg"), len(self._items))
        if kind == "reasoning":
            out += self._add(item, reasoning_item(item.id, None, "in_progress"))
            return [*out, self._part(item, "response.content_part.added", {"type": "reasoning_text", "text": ""})]
        out += self._add(item, message_item(item.id, None, "in_progress"))
        return [*out, self._part(item, "response.content_part.added", output_text(""))]

    def _close(self, item: _Item, status: str) -> list[bytes]:
        text = "".join(item.text)
        final = self._done[item.index] = item.final(status)
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "message":
            out = [self._event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]),
                   self._part(item, "response.content_part.done", output_text(text))]
        elif item.kind == "reasoning":
            out = [self._event("response.reasoning_text.done", **where, content_index=0, text=text),
                   self._part(item, "response.content_part.done", {"type": "reasoning_text", "text": text})]
        else:
            out = [self._event("response.function_call_arguments.done", **where, arguments=text)]
        return [*out, self._event("response.output_item.done", output_index=item.index, item=final)]

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        return self._close(item, status_of(self._finish)[0]) if item is not None else []

    def _close_all(self) -> list[bytes]:
        """Finish every item still open, in output order."""
        status, _ = status_of(self._finish)
        out: list[bytes] = []
        for item in self._items:
            if item.index not in self._done:
                out += self._close(item, status)
        self._open = None
        return out

    def on_reasoning(self, choice: int, text: str) -> list[bytes]:
        if choice != 0:
            return []
        out = [] if self._open is not None and self._open.kind == "reasoning" else self._begin("reasoning")
        item = self._open
        assert item is not None
        item.text.append(text)
        return [*out, self._event("response.reasoning_text.delta", item_id=item.id, output_index=item.index,
                                  content_index=0, delta=text)]

    def on_text(self, choice: int, text: str) -> list[bytes]:
        if choice != 0:
            return []
        out = [] if self._open is not None and self._open.kind == "message" else self._begin("message")
        item = self._open
        assert item is not None
        item.text.append(text)
        return [*out, self._event("response.output_text.delta", item_id=item.id, output_index=item.index,
                                  content_index=0, delta=text, logprobs=[])]

    def on_call(self, choice: int, index: int, call_id: str, name: str) -> list[bytes]:
        if choice != 0:
            return []
        # Function calls stay open until the answer ends: a fragment of an earlier call still has its item.
        out = self._start() + self._close_open()
        item = self._calls[index] = _Item("function_call", object_id("fc"), len(self._items), call_id, name)
        return out + self._add(item, call_item(item.id, call_id, name, "", "in_progress"))

    def on_arguments(self, choice: int, index: int, text: str) -> list[bytes]:
        item = self._calls.get(index) if choice == 0 else None
        if item is None or item.index in self._done:
            return []
        item.text.append(text)
        return [self._event("response.function_call_arguments.delta", item_id=item.id, output_index=item.index,
                            delta=text)]

    def on_finish(self, choice: int, reason: str) -> list[bytes]:
        if choice != 0:
            return []
        self._finish = reason
        return self._start() + self._close_all()

    def on_failure(self, error: TollwayError) -> list[bytes]:
        if not self.started:
            return []  # nothing was sent: the pipeline may still try another channel
        code = error.code or error.error_type
        # The Response object's error code is one of OpenAI's few; the error event carries Tollway's own.
        kind = "rate_limit_exceeded" if error.status_code == 429 else "server_error"
        failed = self._response("failed", self.usage, error={"code": kind, "message": error.message})
        return [self._event("error", code=code, message=error.message, param=error.param),
                self._event("response.failed", response=failed)]

    def on_close(self, usage: Usage | None) -> list[bytes]:
        out = self._start() + self._close_all()
        status, incomplete = status_of(self._finish)
        final = self._response(status, usage, incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self._event(kind, response=final)]
