"""OpenAI Responses requests as chat requests, on the examples of OpenAI's Responses API documentation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.relay.inbound.cases import HELLO
from tests.relay.inbound.loopback import Upstream, openai_client
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.inbound.responses_request import chat_request

_WEATHER = {"type": "function", "name": "get_weather", "description": "Get current temperature for a given location.",
            "parameters": {"type": "object", "properties": {"location": {
                "type": "string", "description": "City and country e.g. Bogotá, Colombia"}},
                "required": ["location"], "additionalProperties": False}, "strict": True}
_WEATHER_CHAT = {"type": "function", "function": {k: v for k, v in _WEATHER.items() if k != "type"}}
_CALENDAR = {"type": "object", "properties": {"name": {"type": "string"}, "date": {"type": "string"},
                                              "participants": {"type": "array", "items": {"type": "string"}}},
             "required": ["name", "date", "participants"], "additionalProperties": False}

# (name, the Responses request body without model, the chat body expected besides the model)
DOCUMENTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("text input", {"input": "Tell me a three sentence bedtime story about a unicorn."},
     {"messages": [{"role": "user", "content": "Tell me a three sentence bedtime story about a unicorn."}]}),
    ("instructions", {"instructions": "Talk like a pirate.", "input": "Are semicolons optional in JavaScript?"},
     {"messages": [{"role": "system", "content": "Talk like a pirate."},
                   {"role": "user", "content": "Are semicolons optional in JavaScript?"}]}),
    ("image input", {"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "what is in this image?"},
        {"type": "input_image", "image_url": "https://upload.wikimedia.org/boardwalk.jpg", "detail": "low"}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "what is in this image?"},
         {"type": "image_url",
          "image_url": {"url": "https://upload.wikimedia.org/boardwalk.jpg", "detail": "low"}}]}]}),
    ("file input, base64", {"input": [{"role": "user", "content": [
        {"type": "input_file", "filename": "draconomicon.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
        {"type": "input_text", "text": "What is the first dragon in the book?"}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x",
                                   "filename": "draconomicon.pdf"}},
         {"type": "text", "text": "What is the first dragon in the book?"}]}]}),
    ("developer and earlier assistant messages", {"input": [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "knock knock."},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Who's there?", "annotations": []}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Orange."}]}]},
     {"messages": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "knock knock."},
                   {"role": "assistant", "content": "Who's there?"}, {"role": "user", "content": "Orange."}]}),
    ("function tools", {"tools": [_WEATHER], "input": "What is the weather like in Paris today?"},
     {"messages": [{"role": "user", "content": "What is the weather like in Paris today?"}],
      "tools": [_WEATHER_CHAT]}),
    ("a function call and its output sent back", {"tools": [_WEATHER], "input": [
        {"role": "user", "content": "What is the weather like in Paris today?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
        {"type": "function_call", "id": "fc_12345xyz", "call_id": "call_12345xyz", "name": "get_weather",
         "arguments": "{\"location\":\"Paris, France\"}"},
        {"type": "function_call_output", "call_id": "call_12345xyz", "output": "14°C"}]},
     {"tools": [_WEATHER_CHAT], "messages": [
         {"role": "user", "content": "What is the weather like in Paris today?"},
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "call_12345xyz", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}]},
         {"role": "tool", "tool_call_id": "call_12345xyz", "content": "14°C"}]}),
    ("text and two calls in one turn; a picture returned by a function", {"input": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": "Looking."},
        {"type": "function_call", "call_id": "call_1", "name": "shot", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_2", "name": "read", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_text", "text": "screen:"},
            {"type": "input_image", "image_url": "data:image/png;base64,iV"}]},
        {"type": "function_call_output", "call_id": "call_2", "output": "file text"},
        {"role": "user", "content": "and?"}]},
     {"messages": [
         {"role": "user", "content": "look"},
         {"role": "assistant", "content": "Looking.", "tool_calls": [
             {"id": "call_1", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
             {"id": "call_2", "type": "function", "function": {"name": "read", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "screen:"},
         {"role": "tool", "tool_call_id": "call_2", "content": "file text"},
         {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iV"}}]},
         {"role": "user", "content": "and?"}]}),
    ("structured output with a JSON schema", {"input": "Alice and Bob are going to a science fair on Friday.",
                                              "text": {"format": {"type": "json_schema", "name": "calendar_event",
                                                                  "schema": _CALENDAR, "strict": True}}},
     {"messages": [{"role": "user", "content": "Alice and Bob are going to a science fair on Friday."}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "calendar_event", "schema": _CALENDAR,
                                                                 "strict": True}}}),
    ("JSON mode", {"input": "x", "text": {"format": {"type": "json_object"}}},
     {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
    ("reasoning effort, output limit, sampling, store false", {
        "input": "x", "reasoning": {"effort": "medium", "summary": "auto"}, "max_output_tokens": 500,
        "temperature": 0.7, "top_p": 0.9, "store": False, "include": ["reasoning.encrypted_content"],
        "safety_identifier": "user-123"},
     {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium", "max_tokens": 500,
      "temperature": 0.7, "top_p": 0.9, "user": "user-123"}),
    ("tool_choice naming a function; parallel calls off", {
        "input": "x", "tools": [_WEATHER], "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_WEATHER_CHAT],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False}),
    ("allowed_tools narrows the tools", {
        "input": "x", "tools": [_WEATHER, {**_WEATHER, "name": "get_time"}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function",
                                                                               "name": "get_weather"}]}},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_WEATHER_CHAT], "tool_choice": "required"}),
    ("a tool_choice without tools is left out", {"input": "x", "tool_choice": "auto"},
     {"messages": [{"role": "user", "content": "x"}]}),
    ("streaming asks for the usage", {"input": "x", "stream": True},
     {"messages": [{"role": "user", "content": "x"}], "stream": True, "stream_options": {"include_usage": True}}),
]


@pytest.mark.parametrize(("body", "expected"), [case[1:] for case in DOCUMENTED], ids=[case[0] for case in DOCUMENTED])
def test_documented_requests(body: dict[str, Any], expected: dict[str, Any]) -> None:
    chat, ask = chat_request({"model": "gpt-4.1", **body})
    assert chat == {"model": "gpt-4.1", **expected}
    assert ask.model == "gpt-4.1" and ask.stream is (body.get("stream") is True)


REFUSED = [
    ("previous_response_id", {"previous_response_id": "resp_123"}, "previous_response_id"),
    ("a conversation", {"conversation": "conv_123"}, "conversation"),
    ("a stored prompt", {"prompt": {"id": "pmpt_123", "version": "2"}}, "prompt"),
    ("background", {"background": True}, "background"),
    ("store true", {"store": True}, "store"),
    ("web search", {"tools": [{"type": "web_search_preview"}]}, "tools[0].type"),
    ("file search", {"tools": [_WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[1].type"),
    ("computer use", {"tools": [{"type": "computer_use_preview", "display_width": 1024}]}, "tools[0].type"),
    ("a custom (grammar) tool", {"tools": [{"type": "custom", "name": "sql"}]}, "tools[0].type"),
    ("a built-in tool_choice", {"tool_choice": {"type": "web_search_preview"}}, "tool_choice.type"),
    ("an item reference", {"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ("a computer call output", {"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type"),
    ("an image by file id", {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
     "input[0].content[0].file_id"),
    ("a file by id", {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
     "input[0].content[0].file_id"),
    ("a text.format the chat API lacks", {"text": {"format": {"type": "grammar"}}}, "text.format.type"),
]


@pytest.mark.parametrize(("extra", "param"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_stateful_and_built_in_features_are_a_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        chat_request({"model": "gpt-4.1", "input": "x", **extra})
    error = caught.value
    # Retryable: an OpenAI channel, which takes the body as it is, may serve it.
    assert (error.status_code, error.code, error.param, error.retryable) == (400, "unsupported_by_channel", param, True)
    assert "not supported on this channel" in error.message


MALFORMED = [
    ("not an object", "x", None),
    ("no model", {"input": "x"}, "model"),
    ("no input", {"model": "m"}, "input"),
    ("empty input", {"model": "m", "input": []}, "input"),
    ("instructions and only reasoning", {"model": "m", "instructions": "i", "input": [{"type": "reasoning"}]},
     "input"),
    ("an item that is not an object", {"model": "m", "input": [3]}, "input[0]"),
    ("an unknown role", {"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ("a function call without call_id", {"model": "m", "input": [{"type": "function_call", "name": "f"}]}, "input[0]"),
    ("a tool without name", {"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ("max_output_tokens a string", {"model": "m", "input": "x", "max_output_tokens": "9"}, "max_output_tokens"),
    ("a json_schema without schema", {"model": "m", "input": "x", "text": {"format": {"type": "json_schema",
                                                                                    "name": "n"}}},
     "text.format.schema"),
    ("an image in a system message", {"model": "m", "input": [{"role": "system", "content": [
        {"type": "input_image", "image_url": "https://x/y.png"}]}]}, "input[0].content"),
]


@pytest.mark.parametrize(("body", "param"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_requests_are_invalid(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_request(body)
    assert caught.value.param == param


def test_what_the_sdk_sends_is_translated() -> None:
    upstream = Upstream(whole=HELLO)
    openai_client(upstream).responses.create(
        model="gpt-4.1", instructions="Be brief.", store=False, reasoning={"effort": "low"}, max_output_tokens=50,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
               {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
               {"type": "function_call_output", "call_id": "call_1", "output": "20C"}],
        tools=[_WEATHER])
    assert upstream.chat == [{
        "model": "gpt-4.1", "max_tokens": 50, "reasoning_effort": "low", "tools": [_WEATHER_CHAT],
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "weather?"},
                     {"role": "assistant", "content": None, "tool_calls": [
                         {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "20C"}]}]
