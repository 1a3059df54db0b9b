"""OpenAI chat streams as Responses streams: event order, sequence numbers, ids, and the openai SDK's stream helper."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response

from tests.relay.inbound.cases import MIXED_STREAM, TEXT_STREAM, TOOL_STREAM, error_frame
from tests.relay.inbound.loopback import Upstream, chat_sse, openai_client
from tollway.relay.inbound.responses_request import ResponsesAsk, chat_request
from tollway.relay.inbound.responses_stream import ResponsesStream
from tollway.relay.usage import Usage


def events(out: list[bytes]) -> list[dict[str, Any]]:
    """The data of each frame (`event:` line, `data:` line); sequence numbers must count from 0."""
    found = []
    for frame in b"".join(out).split(b"\n\n"):
        if frame:
            name, data = frame.split(b"\n")
            payload = json.loads(data.removeprefix(b"data: "))
            assert name == b"event: " + payload["type"].encode()
            found.append(payload)
    assert [event["sequence_number"] for event in found] == list(range(len(found)))
    return found


def translate(stream: bytes, request: dict[str, Any] | None = None, usage: Usage | None = None) -> list[dict[str, Any]]:
    _, ask = chat_request({"model": "gpt-4.1", "input": "x", "stream": True, **(request or {})})
    translator = ResponsesStream(ask)
    return events(translator.feed(stream) + translator.close(usage))


def test_text_stream_follows_openais_event_order() -> None:
    found = translate(chat_sse([
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}]))
    assert [event["type"] for event in found] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    response_id = found[0]["response"]["id"]
    assert found[0]["response"]["status"] == "in_progress" and found[0]["response"]["output"] == []
    assert found[-1]["response"]["id"] == response_id and found[-1]["response"]["status"] == "completed"
    item_id = found[2]["item"]["id"]
    assert found[2]["item"] == {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant",
                                "content": []}
    assert found[3] == {"type": "response.content_part.added", "item_id": item_id, "output_index": 0,
                        "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [],
                                                     "logprobs": []}, "sequence_number": 3}
    assert [event["delta"] for event in found[4:6]] == ["Hi", " there"]
    assert found[6]["text"] == "Hi there" and found[7]["part"]["text"] == "Hi there"
    assert found[8]["item"]["status"] == "completed" and found[8]["item"]["content"][0]["text"] == "Hi there"
    assert found[-1]["response"]["output"] == [found[8]["item"]]
    assert found[-1]["response"]["usage"]["total_tokens"] == 5
    for event in (found[0], found[1], found[-1]):
        Response.model_validate(event["response"])


def test_recorded_tool_stream_is_a_function_call_item() -> None:
    found = translate(TOOL_STREAM)
    assert [event["type"] for event in found] == [
        "response.created", "response.in_progress", "response.output_item.added",
        *["response.function_call_arguments.delta"] * 7, "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    added = found[2]["item"]
    assert (added["type"], added["call_id"], added["name"], added["arguments"], added["status"]) == (
        "function_call", "call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", "", "in_progress")
    assert found[10]["arguments"] == '{"city":"New York City"}' and found[10]["item_id"] == added["id"]
    assert found[11]["item"] == {**added, "arguments": '{"city":"New York City"}', "status": "completed"}
    assert found[-1]["response"]["usage"]["input_tokens"] == 44


def test_reasoning_text_and_calls_are_items_in_order() -> None:
    found = translate(TEXT_STREAM)
    added = [event["item"]["type"] for event in found if event["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message"]
    assert [event["type"] for event in found[2:8]] == [
        "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done"]
    assert found[7]["item"]["content"] == [{"type": "reasoning_text", "text": "The user greets me."}]
    mixed = translate(MIXED_STREAM)
    items = mixed[-1]["response"]["output"]
    assert [(item["type"], item.get("name")) for item in items] == [("message", None), ("function_call", "get_weather"),
                                                                    ("function_call", "get_time")]
    assert [item["output_index"] for item in mixed if item["type"] == "response.output_item.done"] == [0, 1, 2]


def test_a_length_finish_ends_with_response_incomplete() -> None:
    found = translate(chat_sse([{"choices": [{"index": 0, "delta": {"content": "cut"}, "finish_reason": "length"}]}]))
    assert found[-1]["type"] == "response.incomplete"
    assert found[-1]["response"]["status"] == "incomplete"
    assert found[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert found[-1]["response"]["output"][0]["status"] == "incomplete"


def test_the_pipelines_count_stands_in_for_missing_usage() -> None:
    found = translate(chat_sse([{"choices": [{"index": 0, "delta": {"content": "x"}}]}]), usage=Usage(4, 1))
    assert found[-1]["response"]["usage"]["input_tokens"] == 4


def test_a_failure_after_the_start_is_error_then_response_failed() -> None:
    _, ask = chat_request({"model": "m", "input": "x", "stream": True})
    translator = ResponsesStream(ask)
    out = translator.feed(chat_sse([{"choices": [{"index": 0, "delta": {"content": "part"}}]}], done=False))
    out += translator.feed(error_frame("connection reset", "upstream_502")) + translator.close(None)
    found = events(out)
    assert [event["type"] for event in found][-2:] == ["error", "response.failed"]
    assert found[-2] == {"type": "error", "code": "upstream_502", "message": "connection reset", "param": None,
                         "sequence_number": found[-2]["sequence_number"]}
    failed = found[-1]["response"]
    assert failed["status"] == "failed" and failed["error"] == {"code": "server_error", "message": "connection reset"}
    assert failed["output"][0]["status"] == "incomplete"
    Response.model_validate(failed)


def test_a_failure_before_anything_was_said_writes_nothing() -> None:
    translator = ResponsesStream(ResponsesAsk("m", stream=True))
    assert translator.feed(error_frame()) == [] and translator.state.error is not None


def test_split_at_every_byte_gives_the_same_events() -> None:
    def strip(found: list[dict[str, Any]]) -> str:
        text = json.dumps(found)
        for event in found:
            for key in ("item_id",):
                if key in event:
                    text = text.replace(event[key], "ID")
        return text

    _, ask = chat_request({"model": "m", "input": "x", "stream": True})
    whole = ResponsesStream(ask)
    expected = events(whole.feed(MIXED_STREAM) + whole.close(None))
    split = ResponsesStream(ask)
    split.id, split.created = whole.id, whole.created
    out: list[bytes] = []
    for index in range(len(MIXED_STREAM)):
        out += split.feed(MIXED_STREAM[index:index + 1])
    got = events(out + split.close(None))
    assert [event["type"] for event in got] == [event["type"] for event in expected]
    assert [event.get("delta") for event in got] == [event.get("delta") for event in expected]


# -- through the openai SDK ---------------------------------------------------------------------------------------


def test_the_sdk_stream_helper_assembles_the_response() -> None:
    client = openai_client(Upstream(stream=MIXED_STREAM))
    with client.responses.stream(model="gpt-4.1", input="x") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "Checking both."
    calls = [(item.name, json.loads(item.arguments)) for item in final.output if item.type == "function_call"]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert final.usage is not None and final.usage.output_tokens == 16


def test_the_sdk_reads_text_deltas_with_their_snapshots() -> None:
    client = openai_client(Upstream(stream=TEXT_STREAM))
    with client.responses.stream(model="gpt-4.1", input="x") as stream:
        snapshots = [event.snapshot for event in stream if event.type == "response.output_text.delta"]
    assert snapshots == ["Hello", "Hello!"]


@pytest.mark.parametrize("stream", [TEXT_STREAM, TOOL_STREAM, MIXED_STREAM])
def test_the_raw_sdk_stream_parses_every_event(stream: bytes) -> None:
    raw = openai_client(Upstream(stream=stream)).responses.create(model="gpt-4.1", input="x", stream=True)
    found = list(raw)
    assert found[0].type == "response.created" and found[-1].type == "response.completed"
    assert found[0].response.id == found[-1].response.id


def test_the_sdk_sees_a_failure_as_error_then_response_failed() -> None:
    stream = chat_sse([{"choices": [{"index": 0, "delta": {"content": "part"}}]}], done=False) + error_frame()
    with openai_client(Upstream(stream=stream)).responses.stream(model="gpt-4.1", input="x") as events_:
        kinds = [event.type for event in events_]
        with pytest.raises(RuntimeError):
            events_.get_final_response()  # as against OpenAI: a failed response has no final one
    assert kinds[-2:] == ["error", "response.failed"]
