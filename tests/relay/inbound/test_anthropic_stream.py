"""OpenAI chat streams as Anthropic Messages streams: the exact event order, usage, errors, and the SDK reading them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from tests.relay.inbound.cases import MIXED_STREAM, TEXT_STREAM, TOOL_STREAM, error_frame
from tests.relay.inbound.loopback import Upstream, anthropic_client, chat_sse
from tollway.relay.inbound.anthropic_request import MessagesAsk
from tollway.relay.inbound.anthropic_stream import MessagesStream
from tollway.relay.usage import Usage

ASK = MessagesAsk("claude-sonnet-4-5", stream=True)
THINKING = MessagesAsk("claude-sonnet-4-5", stream=True, thinking=True)


def events(out: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each frame; every frame must be an `event:` line, a `data:` line and a blank line."""
    found = []
    raw = b"".join(out)
    assert raw.endswith(b"\n\n")
    for frame in raw[:-2].split(b"\n\n"):
        name, data = frame.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
        payload = json.loads(data[6:])
        assert payload["type"] == name[7:].decode()  # the SDK dispatches on the event line, clients on the type
        found.append((name[7:].decode(), payload))
    return found


def translate(stream: bytes, ask: MessagesAsk = ASK, usage: Usage | None = None, **options: Any
              ) -> list[tuple[str, dict[str, Any]]]:
    translator = MessagesStream(ask, **options)
    return events(translator.feed(stream) + translator.close(usage))


def test_recorded_tool_stream_follows_anthropics_sequence() -> None:
    found = translate(TOOL_STREAM, prompt_tokens=40)
    assert [name for name, _ in found] == ["message_start", "ping", "content_block_start", *["content_block_delta"] * 7,
                                           "content_block_stop", "message_delta", "message_stop"]
    start = found[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == "claude-sonnet-4-5" and start["content"] == []
    assert (start["stop_reason"], start["usage"]["input_tokens"]) == (None, 40)  # the pipeline's count, first
    assert found[2][1] == {"type": "content_block_start", "index": 0, "content_block": {
        "type": "tool_use", "id": "call_4XzlGBLtUe9dy3GVNV4jhq7h", "name": "get_weather", "input": {}}}
    deltas = [data["delta"] for _, data in found[3:10]]
    assert all(delta["type"] == "input_json_delta" for delta in deltas)
    assert "".join(delta["partial_json"] for delta in deltas) == '{"city":"New York City"}'
    assert found[10][1] == {"type": "content_block_stop", "index": 0}
    assert found[11][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                            "usage": {"input_tokens": 44, "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 0, "output_tokens": 16}}
    assert found[12][1] == {"type": "message_stop"}


def test_thinking_then_text_blocks_when_thinking_was_asked_for() -> None:
    found = translate(TEXT_STREAM, THINKING)
    assert [(name, data.get("index")) for name, data in found] == [
        ("message_start", None), ("ping", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1), ("content_block_stop", 1),
        ("message_delta", None), ("message_stop", None)]
    assert found[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert found[3][1]["delta"] == {"type": "thinking_delta", "thinking": "The user greets me."}
    assert found[5][1]["content_block"] == {"type": "text", "text": ""}
    assert [found[i][1]["delta"]["text"] for i in (6, 7)] == ["Hello", "!"]
    assert found[9][1]["delta"]["stop_reason"] == "end_turn"
    assert found[9][1]["usage"]["cache_read_input_tokens"] == 4 and found[9][1]["usage"]["input_tokens"] == 10


def test_reasoning_is_left_out_when_thinking_was_not_asked_for() -> None:
    kinds = [data["content_block"]["type"] for name, data in translate(TEXT_STREAM) if name == "content_block_start"]
    assert kinds == ["text"]


def test_text_then_two_tool_calls_are_three_blocks_in_order() -> None:
    found = translate(MIXED_STREAM)
    starts = [(data["index"], data["content_block"]) for name, data in found if name == "content_block_start"]
    assert starts == [(0, {"type": "text", "text": ""}),
                      (1, {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}),
                      (2, {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}})]
    stops = [data["index"] for name, data in found if name == "content_block_stop"]
    assert stops == [0, 1, 2]
    # Each block is stopped before the next starts.
    order = [(name, data.get("index")) for name, data in found if name.startswith("content_block_s")]
    assert order == [("content_block_start", 0), ("content_block_stop", 0), ("content_block_start", 1),
                     ("content_block_stop", 1), ("content_block_start", 2), ("content_block_stop", 2)]


def test_a_stream_without_usage_reports_the_pipelines_count() -> None:
    stream = chat_sse([{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "length"}]}])
    delta = translate(stream, usage=Usage(9, 4))[-2][1]
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 4


def test_an_upstream_that_stops_without_finish_or_done_still_ends_the_message() -> None:
    found = translate(chat_sse([{"choices": [{"index": 0, "delta": {"content": "cut"}}]}], done=False))
    assert [name for name, _ in found][-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_an_empty_answer_is_an_empty_message() -> None:
    assert [name for name, _ in translate(b"data: [DONE]\n\n")] == ["message_start", "ping", "message_delta",
                                                                      "message_stop"]


def test_a_failure_before_anything_was_said_writes_nothing() -> None:
    translator = MessagesStream(ASK)
    assert translator.feed(chat_sse([{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}], done=False)
                           + error_frame("overloaded")) == []
    assert translator.state.error is not None and translator.close(None) == []


def test_a_failure_after_the_start_is_an_error_event_and_the_end() -> None:
    translator = MessagesStream(ASK, request_id="r-9")
    out = translator.feed(chat_sse([{"choices": [{"index": 0, "delta": {"content": "partial"}}]}], done=False))
    out += translator.feed(error_frame("connection reset", "upstream_502"))
    out += translator.close(None)
    found = events(out)
    assert found[-1] == ("error", {"type": "error", "error": {"type": "api_error",
                                                              "message": "connection reset (request id: r-9)"},
                                   "request_id": "r-9"})
    assert "message_stop" not in [name for name, _ in found]


def test_split_at_every_byte_gives_the_same_events() -> None:
    whole = translate(MIXED_STREAM)
    translator = MessagesStream(ASK)
    out: list[bytes] = []
    for index in range(len(MIXED_STREAM)):
        out += translator.feed(MIXED_STREAM[index:index + 1])
    split = events(out + translator.close(None))
    for found in (whole, split):
        found[0][1]["message"].pop("id")
    assert split == whole


# -- through the anthropic SDK -------------------------------------------------------------------------------------


def test_the_sdk_stream_helper_assembles_the_message() -> None:
    client = anthropic_client(Upstream(stream=TEXT_STREAM))
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        texts = list(stream.text_stream)
        message = stream.get_final_message()
    assert texts == ["Hello", "!"]
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[1].text == "Hello!"
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (10, 4, 30)


def test_the_sdk_assembles_tool_input_from_json_deltas() -> None:
    client = anthropic_client(Upstream(stream=MIXED_STREAM))
    with client.messages.stream(model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
        message = stream.get_final_message()
    uses = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert uses == [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert message.stop_reason == "tool_use"


def test_the_sdk_raises_on_an_error_event() -> None:
    stream = chat_sse([{"choices": [{"index": 0, "delta": {"content": "partial"}}]}], done=False) + error_frame()
    client = anthropic_client(Upstream(stream=stream))
    with pytest.raises(anthropic.APIStatusError) as caught, \
            client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as events_:
        for _ in events_:
            pass
    assert caught.value.body["error"]["type"] == "api_error"


def test_the_raw_sdk_stream_sees_every_event_type() -> None:
    client = anthropic_client(Upstream(stream=TOOL_STREAM))
    raw = client.messages.create(model="m", max_tokens=10, stream=True, messages=[{"role": "user", "content": "x"}])
    kinds = [event.type for event in raw]
    # The SDK drops ping itself; everything else arrives typed.
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds


def test_frames_without_an_event_line_would_be_lost() -> None:
    """Why every frame has an `event:` line: the anthropic SDK skips frames without one."""
    translator = MessagesStream(ASK)
    frames = b"".join(translator.feed(TEXT_STREAM) + translator.close(None)).split(b"\n\n")
    bare = b"".join(frame.split(b"\n")[1] + b"\n\n" for frame in frames if frame)

    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=bare, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(api_key="k", base_url="http://tollway.test", max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(serve)))
    raw = client.messages.create(model="m", max_tokens=5, stream=True, messages=[{"role": "user", "content": "x"}])
    assert list(raw) == []
