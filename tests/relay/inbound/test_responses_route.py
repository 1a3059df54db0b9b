"""`POST /v1/responses` end to end with the official openai SDK: translated for a chat-only channel, passed through to
OpenAI and Azure channels, billed and logged like chat, refusals and errors as the SDK's own classes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.harness import ROOT_TOKEN, Gateway
from tests.relay.inbound.conftest import consume_logs
from tests.upstreams.openai_mock import OpenAIMock

WEATHER = {"type": "function", "name": "get_weather", "description": "weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PIXEL = "data:image/png;base64,iVBORw0KGgo="
CUSTOM = 8  # a chat-only OpenAI-compatible channel


def raw_events(gateway: Gateway, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The data of every event of a raw Responses stream; each `event:` line names its data's type."""
    found = []
    with httpx.stream("POST", gateway.url + "/v1/responses", json={**body, "stream": True}, timeout=30,
                      headers={"Authorization": "Bearer sk-" + ROOT_TOKEN}) as response:
        assert response.status_code == 200, response.read()
        raw = response.read().decode()
    for frame in raw.strip().split("\n\n"):
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        found.append(event)
    return found


@pytest.fixture
def chat_only(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> Gateway:
    gateway.add_channel(mock_url, type=CUSTOM)
    return gateway


# -- a chat-only channel: translated -----------------------------------------------------------------------------


def test_translated_answer_usage_and_log(chat_only: Gateway, mock: OpenAIMock) -> None:
    response = chat_only.openai().responses.create(model="gpt-4o-mini", input="hi", instructions="Be brief.",
                                                   max_output_tokens=100, temperature=0.3)
    assert response.output_text == "Hello from the mock." and response.status == "completed"
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (11, 5)
    assert response.instructions == "Be brief." and response.model == "gpt-4o-mini"
    sent = mock.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json == {"model": "gpt-4o-mini", "max_tokens": 100, "temperature": 0.3, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    [row] = consume_logs(chat_only)
    assert (row["inbound_api"], row["prompt_tokens"], row["completion_tokens"]) == ("responses", 11, 5)


def test_translated_stream_with_the_sdk_helper(chat_only: Gateway, mock: OpenAIMock) -> None:
    with chat_only.openai().responses.stream(model="gpt-4o-mini", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello from the mock." and final.output_text == "Hello from the mock."
    assert final.usage is not None and final.usage.output_tokens == 5
    types = [event["type"] for event in raw_events(chat_only, {"model": "gpt-4o-mini", "input": "hi"})]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [row["is_stream"] for row in consume_logs(chat_only)] == [True, True]


def test_translated_function_calls_both_ways(chat_only: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", tool_call=True)
    sdk = chat_only.openai()
    response = sdk.responses.create(model="gpt-4o-mini", input="weather in Boston?", tools=[WEATHER])
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id == "call_abc123"
    assert json.loads(call.arguments) == {"city": "Boston"}
    assert mock.requests[-1].json["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "weather of a city", "parameters": WEATHER["parameters"]}}]
    with sdk.responses.stream(model="gpt-4o-mini", input="weather?", tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "function_call" and final.output[0].arguments == '{"city":"Boston"}'
    mock.plan("gpt-4o-mini")
    sdk.responses.create(model="gpt-4o-mini", tools=[WEATHER], input=[
        {"role": "user", "content": "weather in Boston?"},
        {"type": "function_call", "call_id": "call_abc123", "name": "get_weather", "arguments": '{"city":"Boston"}'},
        {"type": "function_call_output", "call_id": "call_abc123", "output": "sunny"}])
    messages = mock.requests[-1].json["messages"]
    assert messages[1]["tool_calls"][0] == {"id": "call_abc123", "type": "function",
                                            "function": {"name": "get_weather", "arguments": '{"city":"Boston"}'}}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny"}


def test_translated_image_and_json_schema(chat_only: Gateway, mock: OpenAIMock) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    content = [{"type": "input_text", "text": "what is this?"},
               {"type": "input_image", "image_url": PIXEL, "detail": "low"}]
    chat_only.openai().responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": content}],
                                        text={"format": {"type": "json_schema", "name": "reply", "schema": schema,
                                                         "strict": True}})
    sent = mock.requests[-1].json
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "what is this?"},
                                              {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}]
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "reply", "schema": schema, "strict": True}}


def test_translated_failure_mid_stream(chat_only: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", break_after=3)
    found = raw_events(chat_only, {"model": "gpt-4o-mini", "input": "hi"})
    assert [event["type"] for event in found[-2:]] == ["error", "response.failed"]
    assert found[-1]["response"]["id"] == found[0]["response"]["id"] and found[-1]["response"]["status"] == "failed"


def test_stateful_fields_are_refused_by_name(chat_only: Gateway, mock: OpenAIMock) -> None:
    sdk = chat_only.openai()
    for field, value in (("previous_response_id", "resp_123"), ("store", True)):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.responses.create(model="gpt-4o-mini", input="hi", **{field: value})
        assert refused.value.param == field and field in refused.value.message
    with pytest.raises(openai.BadRequestError) as tool:
        sdk.responses.create(model="gpt-4o-mini", input="hi", tools=[{"type": "web_search"}])
    assert tool.value.param == "tools[0].type"
    assert not mock.requests and not consume_logs(chat_only)


def test_errors_are_openais(chat_only: Gateway, mock: OpenAIMock) -> None:
    with pytest.raises(openai.AuthenticationError):
        chat_only.openai(key="sk-" + "x" * 48).responses.create(model="gpt-4o-mini", input="hi")
    with pytest.raises(openai.NotFoundError) as missing:
        chat_only.openai().responses.create(model="no-such-model", input="hi")
    assert missing.value.code == "model_not_found"
    mock.plan("gpt-4o-mini", status=429)
    with pytest.raises(openai.RateLimitError):
        chat_only.openai().responses.create(model="gpt-4o-mini", input="hi")
    answer = httpx.post(chat_only.url + "/v1/responses", content=b"[1, 2]", timeout=30,
                        headers={"Authorization": "Bearer sk-" + ROOT_TOKEN})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"


# -- OpenAI and Azure channels: passed through -------------------------------------------------------------------


def test_passthrough_to_openai(relay: Gateway, mock: OpenAIMock) -> None:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi"}],
                            "previous_response_id": "resp_earlier", "store": True, "tools": [{"type": "web_search"}],
                            "reasoning": {"effort": "low"}}
    response = relay.openai().responses.create(**body)
    # OpenAI's own Response object, its id and all; what chat cannot carry goes as the client sent it.
    assert response.id == "resp_67ccd2bed1ec8190b14f964abc054267" and response.output_text == "Hello from the mock."
    sent = mock.requests[-1]
    assert sent.path == "/v1/responses" and sent.headers["authorization"] == "Bearer sk-mock"
    assert sent.json == body
    found = raw_events(relay, {"model": "gpt-4o-mini", "input": "hi"})
    assert [event["sequence_number"] for event in found] == list(range(len(found)))  # OpenAI's own numbering
    assert found[-1]["type"] == "response.completed"
    rows = consume_logs(relay)
    assert [(row["inbound_api"], row["prompt_tokens"], row["completion_tokens"], row["is_stream"])
            for row in rows] == [("responses", 11, 5, True), ("responses", 11, 5, False)]


def test_passthrough_maps_the_model_and_reaches_azure(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, type=3, key="azure-key", models="gpt-4.1", config={"api_version": "2025-04-01"},
                        model_mapping={"gpt-4.1": "gpt-4.1-mini"})
    with gateway.openai().responses.stream(model="gpt-4.1", input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello from the mock."
    sent = mock.requests[-1]
    assert (sent.path, sent.query) == ("/openai/responses", "api-version=2025-04-01")
    assert sent.headers["api-key"] == "azure-key" and "authorization" not in sent.headers
    assert sent.json == {"model": "gpt-41-mini", "input": "hi", "stream": True}
    [row] = consume_logs(gateway)
    assert (row["model_name"], row["upstream_model"], row["completion_tokens"]) == ("gpt-4.1", "gpt-4.1-mini", 5)


def test_passthrough_errors(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", stream_error={"code": "server_error", "message": "The server had an error"})
    with pytest.raises(openai.InternalServerError):
        relay.openai().responses.create(model="gpt-4o-mini", input="hi", stream=True)
    mock.plan("gpt-4o-mini", break_after=6)
    found = raw_events(relay, {"model": "gpt-4o-mini", "input": "hi"})
    assert found[0]["type"] == "response.created" and found[-1]["type"] == "error"
    assert found[-1]["code"] == "upstream_read_error"
    mock.plan("gpt-4o-mini", status=400, error={"error": {"message": "Invalid 'input'", "type": "invalid_request_error",
                                                          "param": "input", "code": None}})
    with pytest.raises(openai.BadRequestError) as bad:
        relay.openai().responses.create(model="gpt-4o-mini", input="hi")
    assert "Invalid 'input'" in bad.value.message
