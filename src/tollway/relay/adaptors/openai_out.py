"""Writing OpenAI output for adaptors that translate: whole answers, embeddings lists, stream chunks and error events.

Whole answers are `chat.completion` objects, or `text_completion` ones for completions calls. A stream is
written by one ChunkWriter: deltas (the first of each choice carries the assistant role), tool calls as
OpenAI streams them (a delta naming the call with empty arguments, then deltas of arguments), the finish,
an error event when a failure arrives after output was sent, and the tail (a usage chunk when one is owed,
then `data: [DONE]`).
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterable
from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import StreamState
from tollway.relay.adaptors.failures import obj
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage


def new_id(prefix: str = "chatcmpl") -> str:
    """A fresh OpenAI-style object id."""
    return f"{prefix}-{uuid.uuid4().hex}"


def tool_call_id() -> str:
    """A fresh OpenAI-style tool call id, for providers that give none."""
    return "call_" + uuid.uuid4().hex[:24]


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One `tool_calls` entry of a whole answer."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_message(content: str | None, *, reasoning: str = "",
                      tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The assistant message of a whole answer (content as given: null when it only calls tools)."""
    found: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        found["reasoning_content"] = reasoning
    if tool_calls:
        found["tool_calls"] = tool_calls
    return found


def choice(index: int, message: dict[str, Any], finish: str) -> dict[str, Any]:
    """One choice of a whole answer."""
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def completion(call: Call, model: str, choices: list[dict[str, Any]], usage: Usage | None, *,
               answer_id: str = "", created: int = 0) -> bytes:
    """A whole chat.completion, or for completions calls a text_completion (each message's content its text)."""
    if call.mode is Mode.COMPLETIONS:
        kind, prefix = "text_completion", "cmpl"
        choices = [{"index": found["index"], "text": found["message"].get("content") or "", "logprobs": None,
                    "finish_reason": found["finish_reason"]} for found in choices]
    else:
        kind, prefix = "chat.completion", "chatcmpl"
    answer: dict[str, Any] = {"id": answer_id or new_id(prefix), "object": kind, "created": created or int(time.time()),
                              "model": model, "choices": choices}
    if usage is not None:
        answer["usage"] = usage.as_openai()
    return orjson.dumps(answer)


def text_answer(call: Call, model: str, text: str, usage: Usage | None, *, answer_id: str = "") -> bytes:
    """A whole answer of one choice that says `text` and stops."""
    return completion(call, model, [choice(0, assistant_message(text), "stop")], usage, answer_id=answer_id)


def answer_text(content: str | None, tool_calls: Iterable[dict[str, Any]] = ()) -> str:
    """What a whole answer generated, for counting tokens locally: its text and its tool calls."""
    parts = [content or ""]
    for call in tool_calls:
        function = call.get("function") or {}
        parts += [str(function.get("name") or ""), str(function.get("arguments") or "")]
    return "".join(parts)


def embeddings(call: Call, model: str, vectors: Iterable[tuple[int, list[float]]], usage: Usage | None) -> bytes:
    """An OpenAI embeddings list; vectors are base64 little-endian float32 when the client asked for that encoding."""
    encode = call.body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": index,
             "embedding": base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if encode else vector}
            for index, vector in vectors]
    used = usage or Usage()
    return orjson.dumps({"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": used.prompt_tokens, "total_tokens": used.total_tokens}})


def error_frame(error: UpstreamError) -> bytes:
    """An OpenAI error event, for a failure that arrives after the stream has started."""
    return sse.frame(orjson.dumps(error.openai_body()))


def usage_frame(answer_id: str, kind: str, created: int, model: str, usage: Usage) -> bytes:
    """The chunk without choices that carries a stream's usage."""
    return sse.frame(orjson.dumps({"id": answer_id, "object": kind, "created": created, "model": model,
                                   "choices": [], "usage": usage.as_openai()}))


def call_opening(index: int, call_id: str, name: str) -> dict[str, Any]:
    """The delta that starts a streamed tool call: its id and name, and empty arguments."""
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]}


def call_arguments(index: int, arguments: str) -> dict[str, Any]:
    """A delta carrying (more of) a streamed tool call's arguments."""
    return {"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}


class ChunkWriter:
    """Writes one stream's chunks under a fixed id, model and creation time, recording the text it sends.

    `content`, `reasoning`, `tool_call` and `arguments` add what they send to the state's text (for local
    token counting); `delta` writes exactly the delta it is given and records nothing.
    """

    def __init__(self, call: Call, model: str, state: StreamState, *, logprobs: bool = True) -> None:
        self.call = call
        self.model = model
        self.state = state
        self.chat = call.mode is not Mode.COMPLETIONS
        self.id = new_id("chatcmpl" if self.chat else "cmpl")
        self.created = int(time.time())
        # OpenAI's chunk choices carry `"logprobs": null`; adaptors whose chunks never did keep them without it.
        self.logprobs = logprobs
        self.started = False  # something reached the client
        self.finished = False
        self.spoken: set[int] = set()  # choices whose first delta (with the role) was sent
        self.calls: dict[int, str] = {}  # tool calls opened so far: index → id
        self._begun = False
        self._keys: dict[str, int] = {}  # provider call ids → index, for keyed_call

    def begin(self, answer_id: str, created: int = 0) -> None:
        """Take the stream's id (and creation time) from the upstream; only the first call counts."""
        if not self._begun:
            self._begun = True
            self.id = answer_id or self.id
            self.created = created or self.created

    @property
    def begun(self) -> bool:
        """The stream has said something: the upstream's first chunk was read, or a chunk was written."""
        return self._begun or self.started

    def delta(self, delta: dict[str, Any], finish: str | None = None, *, index: int = 0) -> bytes:
        """One chunk for one choice; the first delta of a choice also carries the assistant role."""
        self.started = True
        if not self.chat:
            part: dict[str, Any] = {"index": index, "text": delta.get("content") or "", "logprobs": None,
                                    "finish_reason": finish}
            return self._frame("text_completion", part)
        if index not in self.spoken:
            self.spoken.add(index)
            delta = {"role": "assistant", **delta}
        part = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish} if self.logprobs \
            else {"index": index, "delta": delta, "finish_reason": finish}
        return self._frame("chat.completion.chunk", part)

    def _frame(self, kind: str, part: dict[str, Any]) -> bytes:
        return sse.frame(orjson.dumps({"id": self.id, "object": kind, "created": self.created, "model": self.model,
                                       "choices": [part]}))

    def content(self, text: str) -> list[bytes]:
        """A content delta; empty text is sent only as the first chunk (with the role)."""
        return self._text("content", text)

    def reasoning(self, text: str) -> list[bytes]:
        """A reasoning_content delta; empty text is sent only as the first chunk (with the role)."""
        return self._text("reasoning_content", text)

    def _text(self, field: str, text: str) -> list[bytes]:
        if not text and self.started:
            return []
        self.state.text.append(text)
        return [self.delta({field: text})]

    def tool_call(self, index: int, call_id: str, name: str, arguments: str = "", *,
                  null_content: bool = False) -> list[bytes]:
        """A tool call's deltas: the first for an index opens it (`null_content`: with content null), then arguments."""
        out: list[bytes] = []
        if index not in self.calls:
            self.calls[index] = call_id
            self.state.text.append(name)
            opening = call_opening(index, call_id, name)
            out.append(self.delta({"content": None, **opening} if null_content else opening))
        return out + self.arguments(index, arguments)

    def arguments(self, index: int, arguments: str) -> list[bytes]:
        """A delta with more of a tool call's arguments; nothing for none."""
        if not arguments:
            return []
        self.state.text.append(arguments)
        return [self.delta(call_arguments(index, arguments))]

    def keyed_call(self, key: str | None, name: str, arguments: str) -> list[bytes]:
        """A tool call told apart by the provider's id (its key); without one, a named call is new, else the latest."""
        index = self._keys.get(key) if key is not None else None
        if index is None and not name and self.calls:
            index = max(self.calls)
        if index is None:
            index = len(self.calls)
            if key is not None:
                self._keys[key] = index
        return self.tool_call(index, key or ("" if index in self.calls else tool_call_id()), name, arguments)

    def fragment(self, fragment: dict[str, Any]) -> list[bytes]:
        """Deltas of an OpenAI-style tool-call fragment `{index, id, function: {name, arguments}}`."""
        index = fragment.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # No index: a fragment with a new id starts a call, one without continues the last call.
            last = max(self.calls) if self.calls else None
            index = last if last is not None and fragment.get("id") in (None, "", self.calls[last]) else len(self.calls)
        function = obj(fragment.get("function"))
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            # Some providers send the arguments as an object; OpenAI's are always a JSON string.
            arguments = "" if arguments is None else orjson.dumps(arguments).decode()
        # The first id of each call wins; later fragments may repeat it or send "" (DashScope).
        call_id = fragment.get("id") if isinstance(fragment.get("id"), str) and fragment.get("id") else ""
        call_id = call_id or ("" if index in self.calls else tool_call_id())
        return self.tool_call(index, call_id, str(function.get("name") or ""), arguments)

    def finish(self, reason: str) -> bytes:
        """The chunk that ends the (first) choice; the stream counts as finished."""
        self.finished = self.state.finished = True
        return self.delta({} if self.chat else {"content": ""}, reason)

    def error(self, error: UpstreamError) -> list[bytes]:
        """Record a provider error: an error event once output was sent; before it nothing (another channel may try)."""
        self.state.error = error
        return [error_frame(error)] if self.started else []

    def end(self, usage: Usage | None, *, finish_empty: bool = False) -> list[bytes]:
        """A `stop` finish for an answer cut off without error (`finish_empty`: even one never begun), then the tail."""
        cut_off = not self.finished and self.state.error is None and (finish_empty or self.begun)
        return ([self.finish("stop")] if cut_off else []) + self.close(usage)

    def close(self, usage: Usage | None) -> list[bytes]:
        """The usage chunk when one is owed, then `[DONE]`."""
        out: list[bytes] = []
        # A client that wanted one whole answer gets the stream assembled, so usage goes in for it too.
        if usage is not None and (self.call.wants_usage or not self.call.stream):
            kind = "chat.completion.chunk" if self.chat else "text_completion"
            out.append(usage_frame(self.id, kind, self.created, self.model, usage))
        out.append(sse.DONE)
        return out
