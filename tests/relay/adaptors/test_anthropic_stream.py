"""Anthropic's SSE events translated to OpenAI chunks, on recorded and hand-made streams."""

from __future__ import annotations

import json
from typing import Any

from tests.relay.adaptors.sse_frames import frames
from tests.relay.adaptors.test_anthropic import ADAPTOR, chat, target

# Recorded (anthropic-sdk-python tests/lib/streaming/fixtures/tool_use_response.txt; reference §2), byte for byte.
_RECORDED_EVENTS = [
    ("message_start", '{"type":"message_start","message":{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message",'
                      '"role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,'
                      '"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,'
                      '"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}'),
    ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
    ("ping", '{"type": "ping"}'),
    ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
                            '"text":"\'ll check the current weather in Paris for you."}}'),
    ("content_block_stop", '{"type":"content_block_stop","index":0}'),
    ("content_block_start", '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use",'
                            '"id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","caller":{"type":"direct"},'
                            '"input":{}}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":""}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":"{\\"locati"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":"on\\": \\"P"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":"ar"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":"is\\"}"}}'),
    ("content_block_stop", '{"type":"content_block_stop","index":1}'),
    ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
                      '"usage":{"output_tokens":65}}'),
    ("message_stop", '{"type":"message_stop"}'),
]
TOOL_STREAM = "".join(f"event: {name}\ndata: {data}\n\n" for name, data in _RECORDED_EVENTS).encode()


def test_recorded_tool_stream() -> None:
    translator = ADAPTOR.translator(chat(stream=True, stream_options={"include_usage": True}), target())
    out = translator.feed(TOOL_STREAM)
    usage = translator.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (377, 65)
    chunks = frames(out + translator.close(usage))
    assert chunks[-1] == "[DONE]" and chunks[-2]["usage"] == {"prompt_tokens": 377, "completion_tokens": 65,
                                                              "total_tokens": 442}
    assert chunks[-2]["choices"] == []
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert all(c["id"] == "chatcmpl-msg_019Q1hrJbZG26Fb9BQhrkHEr" and c["object"] == "chat.completion.chunk"
               and c["model"] == "claude-sonnet-4-20250514" for c in chunks[:-2])
    assert deltas[0] == {"role": "assistant", "content": "I"}
    assert deltas[1] == {"content": "'ll check the current weather in Paris for you."}
    assert deltas[2] == {"content": None, "tool_calls": [{"index": 0, "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                                                           "type": "function",
                                                           "function": {"name": "get_weather", "arguments": ""}}]}
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:-1])
    assert arguments == '{"location": "Paris"}'
    assert all(d["tool_calls"][0]["index"] == 0 and "id" not in d["tool_calls"][0] for d in deltas[3:-1])
    assert chunks[-3]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert translator.state.finished


def test_stream_split_at_every_byte_gives_the_same_output() -> None:
    whole = ADAPTOR.translator(chat(stream=True), target())
    expected = frames(whole.feed(TOOL_STREAM) + whole.close(None))
    split = ADAPTOR.translator(chat(stream=True), target())
    out: list[bytes] = []
    for index in range(len(TOOL_STREAM)):
        out += split.feed(TOOL_STREAM[index:index + 1])
    got = frames(out + split.close(None))
    for chunk in expected + got:
        if isinstance(chunk, dict):
            chunk.pop("created")
    assert got == expected


def sse_events(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in events)


START = {"type": "message_start", "message": {"id": "msg_2", "model": "claude-3-7-sonnet-20250219", "content": [],
                                              "usage": {"input_tokens": 12, "cache_read_input_tokens": 30,
                                                        "cache_creation_input_tokens": 0, "output_tokens": 1}}}


def test_thinking_stream_and_cached_usage() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    out = translator.feed(sse_events(
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "abc"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Yes."}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ))
    chunks = frames(out)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "reasoning_content": "Hmm."}, {"content": "Yes."}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    usage = translator.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (42, 9, 30)
    # No include_usage: no usage chunk, just [DONE].
    assert frames(translator.close(usage)) == ["[DONE]"]
    assert "".join(translator.state.text) == "Hmm.Yes."


def test_tool_without_arguments_gets_an_empty_object() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    out = translator.feed(sse_events(
        START,
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_stop", "index": 0},
    ))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in frames(out)]
    assert calls[0]["function"] == {"name": "now", "arguments": ""} and calls[0]["id"] == "toolu_9"
    assert calls[1] == {"index": 0, "function": {"arguments": "{}"}}


def test_error_as_the_first_event_is_the_attempts_failure() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    out = translator.feed(sse_events(START, {"type": "ping"}, {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}))
    assert out == []
    error = translator.state.error
    assert error is not None and error.status_code == 503 and error.retryable


def test_error_mid_stream_is_sent_as_an_openai_error_event() -> None:
    translator = ADAPTOR.translator(chat(stream=True, stream_options={"include_usage": True}), target())
    out = translator.feed(sse_events(
        START,
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    ))
    chunks = frames(out)
    assert chunks[0]["choices"][0]["delta"]["content"] == "Hel"
    assert chunks[1] == {"error": {"message": "Internal server error", "type": "api_error", "param": None,
                                   "code": "api_error"}}
    assert len(chunks) == 2  # nothing after the error
    assert translator.state.error is not None and translator.state.error.status_code == 500
    assert frames(translator.close(None)) == ["[DONE]"]
