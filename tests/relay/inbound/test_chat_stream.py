"""The OpenAI chat stream reader every inbound translator stands on: odd input, fragments, the chain with adaptors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.relay.inbound.cases import TEXT_STREAM, TOOL_STREAM, error_frame
from tests.relay.inbound.loopback import chat_sse
from tollway.errors import TollwayError, UpstreamError
from tollway.relay.adaptors.anthropic import AnthropicAdaptor
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.gemini_stream import GeminiStream
from tollway.relay.adaptors.openai import OpenAIStream
from tollway.relay.calls import Mode, parse_json
from tollway.relay.inbound.anthropic_request import MessagesAsk
from tollway.relay.inbound.anthropic_stream import MessagesStream
from tollway.relay.inbound.chat_stream import Chained, ChatStreamReader
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry


class Recorder(ChatStreamReader):
    """Writes each call it gets as one line of text, to compare with what was expected."""

    def on_text(self, choice: int, text: str) -> list[bytes]:
        return [f"text {choice} {text}".encode()]

    def on_reasoning(self, choice: int, text: str) -> list[bytes]:
        return [f"reasoning {choice} {text}".encode()]

    def on_call(self, choice: int, index: int, call_id: str, name: str) -> list[bytes]:
        return [f"call {choice} {index} {call_id[:5]} {name}".encode()]

    def on_arguments(self, choice: int, index: int, text: str) -> list[bytes]:
        return [f"arguments {choice} {index} {text}".encode()]

    def on_finish(self, choice: int, reason: str) -> list[bytes]:
        return [f"finish {choice} {reason}".encode()]

    def on_failure(self, error: TollwayError) -> list[bytes]:
        return [f"failure {error.message}".encode()]

    def on_close(self, usage: Usage | None) -> list[bytes]:
        return [f"close {usage.prompt_tokens if usage else None}".encode()]


def said(stream: bytes, usage: Usage | None = None) -> list[str]:
    reader = Recorder()
    return [piece.decode() for piece in reader.feed(stream) + reader.close(usage)]


def line(data: Any) -> bytes:
    return b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"


ODD_INPUT = [
    ("not JSON", b"data: {oops\n\n", ["close None"]),
    ("JSON that is not an object", line([1, 2]), ["close None"]),
    ("comments, event and id lines", b": keep-alive\nevent: x\nid: 3\nretry: 5\n\n", ["close None"]),
    ("no space after data:", b'data:{"choices":[{"delta":{"content":"a"}}]}\n\n', ["text 0 a", "close None"]),
    ("CRLF line endings", b'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\n', ["text 0 a", "close None"]),
    ("a last line without newline", b'data: {"choices":[{"delta":{"content":"a"}}]}', ["text 0 a", "close None"]),
    ("Azure's empty preamble", line({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                     "prompt_filter_results": []}), ["close None"]),
    ("choices that are not objects", line({"choices": [None, 3, "x"]}), ["close None"]),
    ("a delta of the wrong type", line({"choices": [{"delta": "text", "finish_reason": 7}]}), ["close None"]),
    ("content as text parts (Mistral)", line({"choices": [{"delta": {"content": [{"type": "text", "text": "a"}]}}]}),
     ["text 0 a", "close None"]),
    ("a refusal", line({"choices": [{"delta": {"refusal": "I can't."}}]}), ["text 0 I can't.", "close None"]),
    ("OpenRouter's reasoning field", line({"choices": [{"delta": {"reasoning": "hm"}}]}),
     ["reasoning 0 hm", "close None"]),
    ("usage inside the choice (Moonshot)", line({"choices": [{"delta": {}, "usage": {"prompt_tokens": 3}}]}),
     ["close 3"]),
    ("a second choice", line({"choices": [{"index": 1, "delta": {"content": "b"}}]}), ["text 1 b", "close None"]),
    ("a fragment without index: new id, then none",
     line({"choices": [{"delta": {"tool_calls": [{"id": "call_x", "function": {"name": "f", "arguments": "{"}}]}}]})
     + line({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "}"}}]}}]}),
     ["call 0 0 call_ f", "arguments 0 0 {", "arguments 0 0 }", "close None"]),
    ("arguments sent as an object", line({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}]}}]}),
     ["call 0 0 c1 f", 'arguments 0 0 {"a":1}', "close None"]),
    ("a call without an id gets one", line({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "function": {"name": "f"}}]}}]}), ["call 0 0 call_ f", "close None"]),
    ("an error object", line({"error": {"message": "boom", "type": "server_error"}}) + line({"choices": []}),
     ["failure boom"]),
    ("[DONE] alone: the end comes with close", b"data: [DONE]\n\n", ["close None"]),
]


@pytest.mark.parametrize(("stream", "expected"), [case[1:] for case in ODD_INPUT], ids=[c[0] for c in ODD_INPUT])
def test_odd_input_is_skipped_or_read(stream: bytes, expected: list[str]) -> None:
    assert said(stream) == expected


def test_the_upstream_usage_wins_over_the_pipelines_count() -> None:
    assert said(TOOL_STREAM, Usage(1, 1))[-1] == "close 44"
    assert said(chat_sse([{"choices": [{"delta": {"content": "x"}}]}]), Usage(7, 1))[-1] == "close 7"


def test_a_stream_split_at_every_byte_reads_the_same() -> None:
    whole = said(TEXT_STREAM)
    reader = Recorder()
    pieces: list[bytes] = []
    for index in range(len(TEXT_STREAM)):
        pieces += reader.feed(TEXT_STREAM[index:index + 1])
    assert [p.decode() for p in pieces + reader.close(None)] == whole


def test_a_failure_ends_the_stream_and_sets_the_state() -> None:
    reader = Recorder()
    out = reader.feed(line({"choices": [{"delta": {"content": "a"}}]}) + error_frame("gone"))
    assert [p.decode() for p in out] == ["text 0 a", "failure gone"]
    assert isinstance(reader.state.error, UpstreamError)
    assert reader.feed(line({"choices": [{"delta": {"content": "b"}}]})) == [] and reader.close(None) == []
    assert reader.fail(UpstreamError("again")) == []


# -- chained after a real adaptor ----------------------------------------------------------------------------------

_CLAUDE_EVENTS = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_019Q1hrJbZG26Fb9BQhrkHEr", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-20250514", "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 377, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Bonjour"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 65}}),
    ("message_stop", {"type": "message_stop"}),
]


def _claude_target() -> Target:
    entry = ChannelEntry(id=1, type=14, key="k", status=1, name="c", weight=0, priority=0, base_url="", models=[],
                         groups=["default"], model_mapping={}, config={}, system_prompt="")
    return Target(entry, channel_types.get(14), "claude-sonnet-4-20250514")


def _events(out: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for frame in b"".join(out).split(b"\n\n"):
        if frame:
            kind, data = frame.split(b"\n")
            found.append((kind.removeprefix(b"event: ").decode(), json.loads(data.removeprefix(b"data: "))))
    return found


def test_chained_after_the_anthropic_adaptor_keeps_its_state_and_usage() -> None:
    call = parse_json(Mode.CHAT, json.dumps({"model": "claude-sonnet-4-20250514", "stream": True,
                                             "stream_options": {"include_usage": True},
                                             "messages": [{"role": "user", "content": "hi"}]}).encode())
    inner = AnthropicAdaptor().translator(call, _claude_target())
    chained = Chained(inner, MessagesStream(MessagesAsk("claude-via-tollway", stream=True)))
    upstream = b"".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode() for kind, data in _CLAUDE_EVENTS)
    out = chained.feed(upstream)
    assert chained.state is inner.state and chained.state.finished
    usage = chained.state.usage
    out += chained.close(usage)
    events = _events(out)
    assert [kind for kind, _ in events] == ["message_start", "ping", "content_block_start", "content_block_delta",
                                            "content_block_stop", "message_delta", "message_stop"]
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "Bonjour"}
    assert events[5][1]["usage"]["input_tokens"] == 377 and events[5][1]["usage"]["output_tokens"] == 65


def test_chained_writes_nothing_before_the_first_content_so_a_first_error_can_be_retried() -> None:
    call = parse_json(Mode.CHAT, b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}')
    chained = Chained(OpenAIStream(call), MessagesStream(MessagesAsk("m", stream=True)))
    assert chained.feed(line({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})) == []
    assert chained.feed(error_frame("overloaded")) == []
    assert chained.state.error is not None  # the pipeline raises it before the first byte and tries again


def test_chained_fail_is_the_clients_error_event() -> None:
    call = parse_json(Mode.CHAT, b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}')
    chained = Chained(OpenAIStream(call), MessagesStream(MessagesAsk("m", stream=True)))
    assert chained.feed(line({"choices": [{"index": 0, "delta": {"content": "partial"}}]}))
    events = _events(chained.fail(UpstreamError("read timeout", status_code=504)))
    assert events == [("error", {"type": "error", "error": {"type": "timeout_error", "message": "read timeout"}})]
    assert chained.close(None) == []


def test_chained_error_frames_carry_the_adaptors_error_with_its_status() -> None:
    call = parse_json(Mode.CHAT, b'{"model":"gemini-2.5-flash","stream":true,'
                                 b'"messages":[{"role":"user","content":"hi"}]}')
    chained = Chained(GeminiStream(call), MessagesStream(MessagesAsk("gemini-2.5-flash", stream=True)))
    out = chained.feed(line({"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}]}))
    out += chained.feed(line({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))
    assert chained.state.error is not None and chained.state.error.status_code == 503
    assert _events(out)[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                     "message": "The model is overloaded."}})
