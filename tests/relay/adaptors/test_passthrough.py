"""Passthrough adaptors as pure translators: the client's body with only the model mapped, streams relayed byte for
byte while usage and errors are read, opening events held until content so that an early error can be retried."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.upstreams.anthropic_mock import Plan as ClaudePlan
from tests.upstreams.anthropic_mock import stream_events
from tests.upstreams.aws_mock import chunk_frame, exception_frame
from tollway.relay.adaptors.bedrock_native import BedrockEventStream
from tollway.relay.adaptors.claude_native import ClaudeEventStream, whole_message
from tollway.relay.adaptors.gemini_native import GeminiEventStream
from tollway.relay.adaptors.passthrough import mapped_body
from tollway.relay.adaptors.responses_native import ResponsesEventStream
from tollway.relay.inbound.calls import MessagesInbound


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def inbound(body: dict[str, Any]) -> MessagesInbound:
    raw = json.dumps(body).encode()
    return MessagesInbound(raw, body, str(body.get("model", "")), body.get("stream") is True)


def test_the_body_goes_as_it_came_unless_something_must_change() -> None:
    request = inbound({"model": "sonnet", "max_tokens": 5, "stream": True, "messages": []})
    assert mapped_body(request, "sonnet") is request.raw  # the client's own bytes
    assert orjson.loads(mapped_body(request, "claude-x")) == {**request.body, "model": "claude-x"}
    assert orjson.loads(mapped_body(request, None, drop=("stream",), extra={"anthropic_version": "v"})) == \
        {"anthropic_version": "v", "max_tokens": 5, "messages": []}


def test_claude_stream_passes_byte_for_byte_and_reads_usage() -> None:
    raw = sse(stream_events(ClaudePlan(cache_read=7), "claude"))
    stream = ClaudeEventStream()
    pieces = [stream.feed(raw[i:i + 50]) for i in range(0, len(raw), 50)]
    out = b"".join(piece for found in pieces for piece in found) + b"".join(stream.close(None))
    assert out == raw
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (28, 4, 7)
    assert stream.state.finished and stream.state.error is None and stream.text() == "Hello from Claude."


def test_claude_opening_is_held_and_an_error_before_content_is_the_attempts() -> None:
    events = stream_events(ClaudePlan(error_after=0, error_type="overloaded_error", error_message="Overloaded"), "c")
    stream = ClaudeEventStream()
    assert stream.feed(sse(events[:3])) == []  # message_start, content_block_start, ping: held
    assert stream.feed(sse(events[3:])) == [] and stream.state.error is not None
    assert stream.state.error.status_code == 503 and stream.state.error.retryable
    assert stream.close(None) == []


def test_claude_error_after_content_in_the_same_chunk_goes_to_the_client() -> None:
    events = stream_events(ClaudePlan(error_after=1, error_type="overloaded_error"), "c")
    stream = ClaudeEventStream()
    assert stream.feed(sse(events)) == [sse(events)] and stream.state.error is not None


def test_whole_claude_message_is_kept_and_errors_are_read() -> None:
    body = b'{"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":2}}'
    answer = whole_message(200, body)
    assert answer.content is body and answer.usage is not None and answer.usage.total_tokens == 5
    with pytest.raises(Exception) as failed:
        whole_message(200, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
    assert getattr(failed.value, "status_code", None) == 429


def test_bedrock_chunks_become_claudes_sse_events() -> None:
    events = stream_events(ClaudePlan(), "claude-3-haiku")
    frames = b"".join(chunk_frame(event) for event in events)
    stream = BedrockEventStream()
    out = b"".join(stream.feed(frames[:40]) + stream.feed(frames[40:]) + stream.close(None))
    assert out == sse(events)  # each chunk's event as the SSE event Anthropic sends, its JSON as Bedrock sent it
    assert stream.state.usage is not None and stream.state.usage.completion_tokens == 4


def test_bedrock_exception_after_content_is_an_anthropic_error_event() -> None:
    events = stream_events(ClaudePlan(), "claude-3-haiku")
    stream = BedrockEventStream()
    stream.feed(b"".join(chunk_frame(event) for event in events[:5]))
    out = b"".join(stream.feed(exception_frame("throttlingException", "Too many requests")))
    assert out.startswith(b"event: error\ndata: ") and json.loads(out.split(b"data: ")[1]) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests"}}
    assert stream.state.error is not None and stream.state.error.status_code == 429


def test_responses_stream_usage_and_early_failure() -> None:
    created = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    completed = {"type": "response.completed", "response": {"id": "resp_1", "usage": {
        "input_tokens": 9, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 12}}}
    delta = {"type": "response.output_text.delta", "delta": "Hi"}
    stream = ResponsesEventStream()
    assert stream.feed(sse([created])) == []
    assert stream.feed(sse([delta, completed])) == [sse([created]) + sse([delta, completed])]
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (9, 3, 1)
    early = ResponsesEventStream()
    assert early.feed(sse([created, {"type": "error", "code": "rate_limit_exceeded", "message": "slow"}])) == []
    assert early.state.error is not None and early.state.error.status_code == 429


def test_gemini_stream_reads_the_last_usage_and_errors() -> None:
    first = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}],
             "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "thoughtsTokenCount": 6}}
    last = {"candidates": [{"content": {"parts": [{"text": "!"}], "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 6}}
    raw = b"".join(b"data: " + json.dumps(event).encode() + b"\r\n\r\n" for event in (first, last))
    stream = GeminiEventStream()
    assert stream.feed(raw) == [raw] and stream.state.finished
    assert stream.state.usage is not None and (stream.state.usage.completion_tokens,
                                               stream.state.usage.reasoning_tokens) == (8, 6)
    failing = GeminiEventStream()
    error = b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n'
    assert failing.feed(error) == [] and failing.state.error is not None
    assert failing.state.error.status_code == 503
