"""Gemini native requests as OpenAI chat requests, on the examples of the Gemini API documentation and google-genai."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types as genai_types

from tests.relay.inbound.cases import HELLO
from tests.relay.inbound.loopback import Upstream, genai_client
from tollway.billing.tokenizer import Counter
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.inbound.gemini_request import GeminiAsk, chat_request, count_tokens
from tollway.relay.inbound.gemini_schema import json_schema

_MEETING = {"name": "schedule_meeting",
            "description": "Schedules a meeting with specified attendees at a given time and date.",
            "parameters": {"type": "object", "properties": {
                "attendees": {"type": "array", "items": {"type": "string"},
                              "description": "List of people attending the meeting."},
                "date": {"type": "string", "description": "Date of the meeting (e.g., '2024-07-29')"},
                "topic": {"type": "string", "description": "The subject or topic of the meeting."}},
                "required": ["attendees", "date", "topic"]}}
_MEETING_CHAT = {"type": "function", "function": _MEETING}
_RECIPES = {"type": "ARRAY", "items": {"type": "OBJECT", "properties": {
    "recipeName": {"type": "STRING"}, "ingredients": {"type": "ARRAY", "items": {"type": "STRING"}}},
    "propertyOrdering": ["recipeName", "ingredients"]}}
_RECIPES_JSON = {"type": "array", "items": {"type": "object", "properties": {
    "recipeName": {"type": "string"}, "ingredients": {"type": "array", "items": {"type": "string"}}}}}

# (name, the generateContent body, the chat body expected besides the model)
DOCUMENTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("text", {"contents": [{"parts": [{"text": "Explain how AI works in a few words"}]}]},
     {"messages": [{"role": "user", "content": "Explain how AI works in a few words"}]}),
    ("system_instruction in snake_case", {
        "system_instruction": {"parts": [{"text": "You are a cat. Your name is Neko."}]},
        "contents": [{"parts": [{"text": "Hello there"}]}]},
     {"messages": [{"role": "system", "content": "You are a cat. Your name is Neko."},
                   {"role": "user", "content": "Hello there"}]}),
    ("systemInstruction with role user (google-genai)", {
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
     {"messages": [{"role": "system", "content": "Be brief.\nBe kind."}, {"role": "user", "content": "hi"}]}),
    ("multi-turn chat", {"contents": [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Great to meet you. What would you like to know?"}]},
        {"role": "user", "parts": [{"text": "I have two dogs in my house. How many paws are in my house?"}]}]},
     {"messages": [{"role": "user", "content": "Hello"},
                   {"role": "assistant", "content": "Great to meet you. What would you like to know?"},
                   {"role": "user", "content": "I have two dogs in my house. How many paws are in my house?"}]}),
    ("generation config", {"contents": [{"parts": [{"text": "Write a story about a magic backpack."}]}],
                           "generationConfig": {"stopSequences": ["Title"], "temperature": 1.0,
                                                "maxOutputTokens": 800, "topP": 0.8, "topK": 10}},
     {"messages": [{"role": "user", "content": "Write a story about a magic backpack."}], "stop": ["Title"],
      "temperature": 1.0, "max_tokens": 800, "top_p": 0.8, "top_k": 10}),
    ("inline image in snake_case", {"contents": [{"parts": [
        {"inline_data": {"mime_type": "image/jpeg", "data": "/9j/4AAQ"}}, {"text": "Caption this image."}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
         {"type": "text", "text": "Caption this image."}]}]}),
    ("inline image in URL-safe base64 (google-genai)", {"contents": [{"parts": [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAA1JREFUeAFjYGD4_x8A-__8"}}]}]},
     {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
         "url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAA1JREFUeAFjYGD4/x8A+//8"}}]}]}),
    ("inline PDF and audio", {"contents": [{"parts": [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}}, {"text": "Summarize."}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "file"}},
         {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
         {"type": "text", "text": "Summarize."}]}]}),
    ("function declarations", {"contents": [{"role": "user", "parts": [
        {"text": "Schedule a meeting with Bob and Alice for 03/27/2025 about the Q3 planning."}]}],
        "tools": [{"functionDeclarations": [_MEETING]}]},
     {"messages": [{"role": "user",
                    "content": "Schedule a meeting with Bob and Alice for 03/27/2025 about the Q3 planning."}],
      "tools": [_MEETING_CHAT]}),
    ("function call and response", {"contents": [
        {"role": "user", "parts": [{"text": "What's the temperature in London?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_current_temperature",
                                                      "args": {"location": "London"}},
                                     "thoughtSignature": "CiQB"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_current_temperature",
                                                         "response": {"temperature": 15, "unit": "C"}}}]}]},
     {"messages": [{"role": "user", "content": "What's the temperature in London?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "call_1", "type": "function",
                        "function": {"name": "get_current_temperature", "arguments": '{"location":"London"}'}}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature":15,"unit":"C"}'}]}),
    ("parallel calls answered out of order, by id", {"contents": [
        {"role": "user", "parts": [{"text": "both"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "a", "name": "f", "args": {}}},
                                    {"functionCall": {"id": "b", "name": "f", "args": {"x": 1}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "b", "name": "f", "response": {"r": 2}}},
                                   {"functionResponse": {"name": "f", "response": {"r": 1}}}]}]},
     {"messages": [{"role": "user", "content": "both"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                       {"id": "b", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]},
                   {"role": "tool", "tool_call_id": "b", "content": '{"r":2}'},
                   {"role": "tool", "tool_call_id": "a", "content": '{"r":1}'}]}),
    ("earlier thoughts are not sent back", {"contents": [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"text": "thinking...", "thought": True}, {"text": "answer"}]},
        {"role": "user", "parts": [{"text": "more"}]}]},
     {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "answer"},
                   {"role": "user", "content": "more"}]}),
    ("function calling mode ANY with one allowed function", {
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [_MEETING, {**_MEETING, "name": "cancel_meeting"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["schedule_meeting"]}}},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_MEETING_CHAT],
      "tool_choice": {"type": "function", "function": {"name": "schedule_meeting"}}}),
    ("function calling mode NONE", {"contents": [{"parts": [{"text": "x"}]}],
                                    "tools": [{"functionDeclarations": [_MEETING]}],
                                    "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_MEETING_CHAT], "tool_choice": "none"}),
    ("JSON output with an OpenAPI responseSchema", {
        "contents": [{"parts": [{"text": "List a few popular cookie recipes."}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": _RECIPES}},
     {"messages": [{"role": "user", "content": "List a few popular cookie recipes."}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": _RECIPES_JSON}}}),
    ("JSON output without a schema", {"contents": [{"parts": [{"text": "x"}]}],
                                      "generationConfig": {"responseMimeType": "application/json"}},
     {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
    ("thinking budget (snake_case, as google-genai sends it)", {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"thinkingConfig": {"thinking_budget": 1024, "include_thoughts": True}}},
     {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}),
    ("thinking level", {"contents": [{"parts": [{"text": "x"}]}],
                        "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
     {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"}),
    ("thinking off and candidateCount 2", {"contents": [{"parts": [{"text": "x"}]}],
                                           "generationConfig": {"thinkingConfig": {"thinkingBudget": 0},
                                                                "candidateCount": 2, "seed": 7}},
     {"messages": [{"role": "user", "content": "x"}], "n": 2, "seed": 7}),
    ("safety settings are Gemini's own and left out", {
        "contents": [{"parts": [{"text": "x"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]},
     {"messages": [{"role": "user", "content": "x"}]}),
]


@pytest.mark.parametrize(("body", "expected"), [case[1:] for case in DOCUMENTED], ids=[case[0] for case in DOCUMENTED])
def test_documented_requests(body: dict[str, Any], expected: dict[str, Any]) -> None:
    chat, ask = chat_request(body, "gemini-2.5-flash")
    assert chat == {"model": "gemini-2.5-flash", **expected}
    thinking = body.get("generationConfig", {}).get("thinkingConfig", {})
    assert ask == GeminiAsk("gemini-2.5-flash", False, thoughts=thinking.get("include_thoughts") is True)


def test_the_model_path_may_carry_the_models_prefix_and_streaming_asks_for_usage() -> None:
    chat, ask = chat_request({"contents": [{"parts": [{"text": "x"}]}]}, "models/gemini-2.0-flash", stream=True)
    assert chat["model"] == "gemini-2.0-flash" and ask.model == "gemini-2.0-flash" and ask.stream
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_openapi_schemas_become_json_schema() -> None:
    schema = {"type": "OBJECT", "nullable": True, "required": ["a"], "property_ordering": ["a"], "properties": {
        "type": {"type": "STRING", "enum": ["X", "Y"], "format": "enum"},  # a property named "type" stays one
        "a": {"any_of": [{"type": "INTEGER"}, {"type": "NUMBER", "min_items": 1}]},
        "b": {"type": "TYPE_UNSPECIFIED", "description": "anything"}}}
    assert json_schema(schema) == {"type": ["object", "null"], "required": ["a"], "properties": {
        "type": {"type": "string", "enum": ["X", "Y"], "format": "enum"},
        "a": {"anyOf": [{"type": "integer"}, {"type": "number", "minItems": 1}]},
        "b": {"description": "anything"}}}


REFUSED = [
    ("Google Search", {"tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
    ("code execution", {"tools": [{"functionDeclarations": [_MEETING], "code_execution": {}}]},
     "tools[0].code_execution"),
    ("cached content", {"cachedContent": "cachedContents/abc"}, "cachedContent"),
    ("audio output", {"generationConfig": {"responseModalities": ["AUDIO"]}}, "generationConfig.responseModalities"),
    ("a Files API file", {"contents": [{"parts": [{"fileData": {"mimeType": "video/mp4",
                                                                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]},
     "contents[0].parts[0].fileData"),
    ("executable code", {"contents": [{"role": "model", "parts": [{"executableCode": {"code": "print(1)"}}]}]},
     "contents[0].parts[0]"),
]


@pytest.mark.parametrize(("extra", "param"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_what_chat_cannot_carry_is_a_retryable_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        chat_request({"contents": [{"parts": [{"text": "x"}]}], **extra}, "gemini-2.5-flash")
    error = caught.value
    assert (error.status_code, error.code, error.param, error.retryable) == (400, "unsupported_by_channel", param, True)


MALFORMED = [
    ("not an object", [], "body"),
    ("no contents", {}, "contents"),
    ("contents empty", {"contents": []}, "contents"),
    ("only empty parts", {"contents": [{"parts": []}], "systemInstruction": {"parts": [{"text": "s"}]}}, "contents"),
    ("a content that is not an object", {"contents": ["hi"]}, "contents[0]"),
    ("an unknown role", {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ("parts not a list", {"contents": [{"parts": "x"}]}, "contents[0].parts"),
    ("temperature a string", {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "1"}},
     "generationConfig.temperature"),
    ("maxOutputTokens a fraction", {"contents": [{"parts": [{"text": "x"}]}],
                                    "generationConfig": {"maxOutputTokens": 1.5}}, "generationConfig.maxOutputTokens"),
    ("inline data that is not text", {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": 5}}]}]},
     "contents[0].parts[0].inlineData.data"),
]


@pytest.mark.parametrize(("body", "param"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_requests_are_invalid(body: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_request(body, "gemini-2.5-flash")
    assert caught.value.param == param


def test_count_tokens_of_the_documented_example() -> None:
    body = {"contents": [{"parts": [{"text": "The quick brown fox jumps over the lazy dog."}]}]}
    # 3 to prime, 3 for the message, 10 for the sentence.
    assert count_tokens(body, "gemini-2.0-flash", Counter("gpt-4o")) == b'{"totalTokens":16}'
    assert count_tokens({"generateContentRequest": {"model": "models/gemini-2.0-flash", **body}}, "gemini-2.0-flash",
                        Counter("gpt-4o")) == b'{"totalTokens":16}'


def test_what_google_genai_sends_is_translated() -> None:
    upstream = Upstream(whole=HELLO)
    client = genai_client(upstream)
    weather = genai_types.FunctionDeclaration(
        name="get_weather", description="weather",
        parameters=genai_types.Schema(type=genai_types.Type.OBJECT,
                                      properties={"location": genai_types.Schema(type=genai_types.Type.STRING)},
                                      required=["location"]))
    config = genai_types.GenerateContentConfig(
        system_instruction="Be brief.", temperature=0.5, top_k=40, max_output_tokens=100,
        tools=[genai_types.Tool(function_declarations=[weather])],
        thinking_config=genai_types.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
        automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True))
    client.models.generate_content(model="models/gemini-2.5-flash", config=config, contents=[
        genai_types.Content(role="user", parts=[genai_types.Part.from_text(text="Weather in Paris?"),
                                                genai_types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")])])
    assert upstream.chat == [{
        "model": "gemini-2.5-flash", "temperature": 0.5, "top_k": 40, "max_tokens": 100, "reasoning_effort": "medium",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                                  {"type": "image_url",
                                                   "image_url": {"url": "data:image/png;base64,iVBORw=="}}]}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "weather", "parameters": {
            "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]}]
    # What google-genai puts on the wire: the v1 API, the key in a header, the timeout in whole seconds.
    sent = upstream.sent[0]
    assert sent["systemInstruction"]["role"] == "user"
    assert "thinking_budget" in sent["generationConfig"]["thinkingConfig"]
    assert upstream.urls[0] == "http://tollway.test/v1/models/gemini-2.5-flash:generateContent"
    assert upstream.headers[0]["x-goog-api-key"] == "g-tollway" and upstream.headers[0]["x-server-timeout"] == "30"


def test_a_python_function_tool_is_sent_as_json_schema() -> None:
    def get_weather(location: str, unit: str = "celsius") -> dict[str, str]:
        """Returns the weather in a location."""
        return {}

    upstream = Upstream(whole=HELLO)
    config = genai_types.GenerateContentConfig(
        tools=[get_weather], automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True))
    genai_client(upstream).models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    assert upstream.chat[0]["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Returns the weather in a location.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"},
                                                        "unit": {"type": "string", "default": "celsius"}},
                       "required": ["location"]}}}]
