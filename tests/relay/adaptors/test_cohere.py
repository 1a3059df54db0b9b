"""The Cohere adaptor as pure translation: One API's v1 chat mapping, tools, answers and the JSON-lines stream."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.cohere import CohereAdaptor, cohere_body
from tollway.relay.adaptors.cohere_answer import CohereStream, cohere_answer, cohere_error
from tollway.relay.calls import Call, Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

# The shape of Cohere's v1 stream (JSON lines), as public client fixtures record it.
STREAM = (
    b'{"is_finished":false,"event_type":"stream-start","generation_id":"586ac33f-9c64-452c-8f8d-e5890e73b6fb"}\n'
    b'{"is_finished":false,"event_type":"text-generation","text":"Hello"}\n'
    b'{"is_finished":false,"event_type":"text-generation","text":", World!"}\n'
    b'{"is_finished":true,"event_type":"stream-end","response":{"response_id":"ac6d5f86-f5a7-4db9-bacf-f01b98697a5b",'
    b'"text":"Hello, World!","generation_id":"586ac33f-9c64-452c-8f8d-e5890e73b6fb","chat_history":[],'
    b'"finish_reason":"COMPLETE","meta":{"api_version":{"version":"1"},"billed_units":{"input_tokens":9,'
    b'"output_tokens":20},"tokens":{"input_tokens":17,"output_tokens":244}}},"finish_reason":"COMPLETE"}\n'
)
WEATHER = {"type": "function", "function": {"name": "weather", "description": "weather of a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "the city"},
                                     "days": {"type": "array", "items": {"type": "integer"}}},
    "required": ["city"]}}}


def chat(**body: Any) -> Call:
    body.setdefault("model", "command-r")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, orjson.dumps(body))


def target(model: str = "command-r", base_url: str = "", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 35, "key": "co-key", "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(35), model)


def events(frames: list[bytes]) -> list[dict[str, Any]]:
    lines = b"".join(frames).split(b"\n\n")
    assert lines[-2] == b"data: [DONE]" and lines.count(b"data: [DONE]") == 1
    return [json.loads(line.removeprefix(b"data: ")) for line in lines[:-2]]


def test_body_message_history_preamble_and_parameters() -> None:
    call = chat(messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}, {"role": "user", "content": "how are you?"}],
                temperature=0.4, max_tokens=50, top_p=1, top_k=900, seed=3, stop=["END"], frequency_penalty=-1,
                presence_penalty=0.5, stream=True)
    assert cohere_body(call, "command-r") == {
        "model": "command-r", "message": "how are you?", "preamble": "be brief", "stream": True,
        "chat_history": [{"role": "USER", "message": "hi"}, {"role": "CHATBOT", "message": "hello"}],
        "temperature": 0.4, "max_tokens": 50, "p": 0.99, "k": 500, "seed": 3, "stop_sequences": ["END"],
        "frequency_penalty": 0.0, "presence_penalty": 0.5,
    }


def test_internet_suffix_uses_the_web_search_connector() -> None:
    body = cohere_body(chat(model="command-r-internet"), "command-r-internet")
    assert body["model"] == "command-r" and body["connectors"] == [{"id": "web-search"}]


def test_tools_and_tool_results() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    body = cohere_body(chat(messages=messages, tools=[WEATHER]), "command-r")
    assert body["tools"] == [{"name": "weather", "description": "weather of a city", "parameter_definitions": {
        "city": {"type": "str", "required": True, "description": "the city"},
        "days": {"type": "List[int]", "required": False}}}]
    assert body["message"] == ""
    assert body["chat_history"] == [
        {"role": "USER", "message": "weather in Paris?"},
        {"role": "CHATBOT", "message": "", "tool_calls": [{"name": "weather", "parameters": {"city": "Paris"}}]}]
    assert body["tool_results"] == [{"call": {"name": "weather", "parameters": {"city": "Paris"}},
                                     "outputs": [{"temp": 21}]}]
    # Earlier rounds of tool use stay in the history as TOOL turns.
    later = cohere_body(chat(messages=[*messages, {"role": "assistant", "content": "21 degrees"},
                                       {"role": "user", "content": "thanks"}], tools=[WEATHER]), "command-r")
    assert later["message"] == "thanks" and "tool_results" not in later
    assert later["chat_history"][2] == {"role": "TOOL", "tool_results": body["tool_results"]}
    assert "tools" not in cohere_body(chat(tools=[WEATHER], tool_choice="none"), "command-r")


def test_request_url_bearer_and_base_url() -> None:
    request = CohereAdaptor().request(chat(stream=True), target(base_url="http://127.0.0.1:9/"))
    assert request.url == "http://127.0.0.1:9/v1/chat" and request.stream
    assert request.headers["Authorization"] == "Bearer co-key"
    assert CohereAdaptor().request(chat(), target()).url == "https://api.cohere.ai/v1/chat"
    with pytest.raises(UpstreamError) as raised:
        CohereAdaptor().request(parse_json(Mode.EMBEDDINGS, b'{"model":"embed-v3","input":"x"}'), target())
    assert raised.value.retryable  # chat only, as One API: another channel may serve embeddings


def test_whole_answer_and_billed_usage() -> None:
    body = (b'{"response_id":"r1","text":"Hi there","generation_id":"g1","finish_reason":"MAX_TOKENS",'
            b'"meta":{"billed_units":{"input_tokens":3,"output_tokens":2},"tokens":{"input_tokens":70,'
            b'"output_tokens":2}}}')
    answer = cohere_answer(chat(), body)
    data = json.loads(answer.content)
    assert data["id"] == "chatcmpl-r1" and data["choices"][0]["message"]["content"] == "Hi there"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_whole_answer_with_tool_calls() -> None:
    body = (b'{"response_id":"r1","text":"I will check.","finish_reason":"COMPLETE",'
            b'"tool_calls":[{"name":"weather","parameters":{"city":"Paris"}}]}')
    choice = json.loads(cohere_answer(chat(), body).content)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}


@pytest.mark.parametrize("body,status", [
    (b'{"message":"invalid request: message must be at least 1 token long"}', 502),
    (b'{"response_id":"r1","text":"","finish_reason":"ERROR"}', 502),
])
def test_whole_answer_errors(body: bytes, status: int) -> None:
    with pytest.raises(UpstreamError) as raised:
        cohere_answer(chat(), body)
    assert raised.value.status_code == status and raised.value.retryable


@pytest.mark.parametrize("status,expected", [
    (401, (401, "invalid_api_key", True)), (498, (401, "invalid_api_key", True)),
    (429, (429, "rate_limit_exceeded", True)), (400, (400, "upstream_400", False)), (500, (500, "upstream_500", True)),
])
def test_errors(status: int, expected: tuple[int, str, bool]) -> None:
    error = cohere_error(status, b'{"message":"invalid api token"}')
    assert (error.status_code, error.code, error.retryable) == expected and error.message == "invalid api token"


@pytest.mark.parametrize("size", [5, 100, len(STREAM)])
def test_stream(size: int) -> None:
    stream = CohereStream(chat(stream=True, stream_options={"include_usage": True}))
    out: list[bytes] = []
    for start in range(0, len(STREAM), size):
        out += stream.feed(STREAM[start:start + size])
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (9, 20)  # billed units
    chunks = events(out + stream.close(usage))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hello"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello, World!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] == 29
    assert {c["id"] for c in chunks} == {"chatcmpl-586ac33f-9c64-452c-8f8d-e5890e73b6fb"}


def test_stream_tool_call_chunks() -> None:
    lines = [
        {"event_type": "stream-start", "generation_id": "g"},
        {"event_type": "tool-calls-chunk", "text": "I will look it up."},
        {"event_type": "tool-calls-chunk", "tool_call_delta": {"index": 0, "name": "weather"}},
        {"event_type": "tool-calls-chunk", "tool_call_delta": {"index": 0, "parameters": '{"city"'}},
        {"event_type": "tool-calls-chunk", "tool_call_delta": {"index": 0, "parameters": ': "Paris"}'}},
        {"event_type": "tool-calls-generation", "text": "I will look it up.",
         "tool_calls": [{"name": "weather", "parameters": {"city": "Paris"}}]},
        {"event_type": "stream-end", "finish_reason": "COMPLETE", "response": {}},
    ]
    stream = CohereStream(chat(stream=True))
    chunks = events(stream.feed(b"".join(orjson.dumps(line) + b"\n" for line in lines)) + stream.close(None))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "I will look it up."}
    head = deltas[1]["tool_calls"][0]
    assert head["index"] == 0 and head["id"].startswith("call_") and head["function"] == {"name": "weather",
                                                                                         "arguments": ""}
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:] if d.get("tool_calls"))
    assert arguments == '{"city": "Paris"}'  # the whole tool-calls-generation is not sent a second time
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_tool_calls_given_whole() -> None:
    lines = [{"event_type": "tool-calls-generation", "tool_calls": [{"name": "weather", "parameters": {"city": "X"}}]},
             {"event_type": "stream-end", "finish_reason": "COMPLETE", "response": {}}]
    stream = CohereStream(chat(stream=True))
    chunks = events(stream.feed(b"".join(orjson.dumps(line) + b"\n" for line in lines)) + stream.close(None))
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"] == {"name": "weather", "arguments": ""}
    assert chunks[1]["choices"][0]["delta"]["tool_calls"][0] == {"index": 0, "function": {"arguments": '{"city":"X"}'}}


def test_stream_error_finish_before_and_after_output() -> None:
    end = b'{"is_finished":true,"event_type":"stream-end","finish_reason":"ERROR","response":{}}\n'
    first = CohereStream(chat(stream=True))
    assert first.feed(end) == [] and first.state.error is not None and first.state.error.retryable
    later = CohereStream(chat(stream=True))
    assert later.feed(b'{"event_type":"text-generation","text":"Hel"}\n')
    out = later.feed(end)
    assert json.loads(out[0].removeprefix(b"data: "))["error"]["code"] == "generation_error"
    assert later.state.error is not None
