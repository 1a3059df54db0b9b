"""Reading the OpenAI chat stream Tollway's adaptors write, so that each inbound API only says it its own way.

A translator subclasses ChatStreamReader and gets one call per thing the stream says: text, reasoning,
the start of a function call and more of its arguments, a choice's finish, and a failure. It writes its
stream's end in `on_close`, once the pipeline closes the stream (after `[DONE]` or when the upstream
stopped). Lines that are not JSON objects, chunks without choices and fields of the wrong type are
skipped; it never raises: a failure is something the stream says (`on_failure`).
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import TollwayError, UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import StreamState, StreamTranslator
from tollway.relay.adaptors.failures import body_error, obj, upstream_error
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import tool_call_id
from tollway.relay.inbound.chat_answer import arguments_text, reasoning_of, said_of
from tollway.relay.usage import Usage, from_openai


class ChatStreamReader(LineStream):
    """Turns OpenAI chat.completion.chunk events into calls of the `on_…` methods a subclass writes."""

    def __init__(self) -> None:
        super().__init__()
        # The upstream's usage, from the usage chunk (or any chunk that carries one).
        self.usage: Usage | None = None
        self.failed = False
        self.closed = False
        # The adaptor's state when chained: the error an error frame stands for, with its real status.
        self.source: StreamState | None = None
        # Function calls opened so far, per choice: call index → id.
        self._call_ids: dict[int, dict[int, str]] = {}

    # What a subclass writes. Each returns the bytes to send to the client.

    def on_text(self, choice: int, text: str) -> list[bytes]:
        """More of a choice's answer text."""
        raise NotImplementedError

    def on_reasoning(self, choice: int, text: str) -> list[bytes]:
        """More of a choice's reasoning."""
        raise NotImplementedError

    def on_call(self, choice: int, index: int, call_id: str, name: str) -> list[bytes]:
        """A choice starts function call `index` (0, 1, … within the choice)."""
        raise NotImplementedError

    def on_arguments(self, choice: int, index: int, text: str) -> list[bytes]:
        """More of the arguments of a function call already started."""
        raise NotImplementedError

    def on_finish(self, choice: int, reason: str) -> list[bytes]:
        """A choice ended (the stream's usage may still follow)."""
        raise NotImplementedError

    def on_failure(self, error: TollwayError) -> list[bytes]:
        """The stream failed: the client's error events, or none while nothing was sent (the pipeline retries)."""
        raise NotImplementedError

    def on_close(self, usage: Usage | None) -> list[bytes]:
        """The stream's last events, with the upstream's usage or else the one the pipeline counted."""
        raise NotImplementedError

    # The reading.

    def fail(self, error: TollwayError) -> list[bytes]:
        """Report a failure in the client's format (the pipeline calls this when the upstream breaks off)."""
        if self.failed or self.closed:
            return []
        self.failed = True
        self.state.error = error if isinstance(error, UpstreamError) else None
        return self.on_failure(error)

    def end(self, usage: Usage | None) -> list[bytes]:
        if self.failed or self.closed:
            return []
        self.closed = True
        return self.on_close(self.usage or usage)

    def line(self, line: bytes) -> list[bytes]:
        if self.failed or self.closed:
            return []
        payload = sse.data_of(line)
        if payload is None:
            return []  # blank lines, comments, event: and id: lines
        payload = payload.strip()
        if payload == b"[DONE]":
            self.state.finished = True
            return []
        try:
            chunk = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            return []
        if not isinstance(chunk, dict):
            return []
        if body_error(chunk) is not None:
            known = self.source.error if self.source is not None else None
            return self.fail(known or upstream_error(500, payload))
        choices = chunk.get("choices")
        usage = from_openai(chunk.get("usage"))
        if usage is None and isinstance(choices, list) and choices and isinstance(choices[0], dict):
            usage = from_openai(choices[0].get("usage"))  # Moonshot puts it inside the choice
        if usage is not None:
            self.usage = usage
        out: list[bytes] = []
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if isinstance(choice, dict):
                index = choice.get("index")
                out += self._choice(index if isinstance(index, int) and not isinstance(index, bool) else position,
                                    choice)
        return out

    def _choice(self, index: int, choice: dict[str, Any]) -> list[bytes]:
        delta = obj(choice.get("delta"))
        out: list[bytes] = []
        reasoning = reasoning_of(delta)
        if reasoning:
            out += self.on_reasoning(index, reasoning)
        said = said_of(delta)
        if said:
            out += self.on_text(index, said)
        calls = delta.get("tool_calls")
        for fragment in calls if isinstance(calls, list) else ():
            if isinstance(fragment, dict):
                out += self._fragment(index, fragment)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self.state.finished = True
            out += self.on_finish(index, finish)
        return out

    def _fragment(self, choice: int, fragment: dict[str, Any]) -> list[bytes]:
        """One tool-call fragment: the first of a call starts it, the others carry more arguments."""
        calls = self._call_ids.setdefault(choice, {})
        index = fragment.get("index")
        fragment_id = fragment.get("id") if isinstance(fragment.get("id"), str) else ""
        if not isinstance(index, int) or isinstance(index, bool):
            # No index: a fragment with a new id starts a call, one without continues the last call.
            last = max(calls) if calls else None
            index = last if last is not None and fragment_id in ("", calls[last]) else len(calls)
        function = obj(fragment.get("function"))
        out: list[bytes] = []
        if index not in calls:
            calls[index] = fragment_id or tool_call_id()
            out += self.on_call(choice, index, calls[index], str(function.get("name") or ""))
        arguments = arguments_text(function.get("arguments"))
        if arguments:
            out += self.on_arguments(choice, index, arguments)
        return out


class Chained(StreamTranslator):
    """A channel adaptor's stream translator followed by an inbound one: upstream bytes → OpenAI SSE → client format."""

    def __init__(self, inner: StreamTranslator, outer: ChatStreamReader) -> None:
        self.inner = inner
        self.outer = outer
        # The adaptor's state stays the one the pipeline reads: usage and text for billing, errors, the finish.
        self.state = inner.state
        outer.source = inner.state

    def feed(self, data: bytes) -> list[bytes]:
        out = self.inner.feed(data)
        return self.outer.feed(b"".join(out)) if out else []

    def close(self, usage: Usage | None) -> list[bytes]:
        return self.outer.feed(b"".join(self.inner.close(usage))) + self.outer.close(usage)

    def fail(self, error: TollwayError) -> list[bytes]:
        """The client's error event for a failure the pipeline caught mid-stream."""
        return self.outer.fail(error)

    def text(self) -> str:
        """The adaptor's reading of the generated text (counted when the upstream reports no usage)."""
        return self.inner.text()
