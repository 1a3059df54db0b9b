"""Anthropic Messages requests as OpenAI chat requests, on the examples of Anthropic's Messages API documentation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.relay.inbound.cases import HELLO
from tests.relay.inbound.loopback import Upstream, anthropic_client
from tollway.billing.tokenizer import Counter
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.inbound.anthropic_request import MessagesAsk, chat_request, count_tokens

_WEATHER_TOOL = {"name": "get_weather", "description": "Get the current weather in a given location",
                 "input_schema": {"type": "object", "properties": {"location": {
                     "type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                     "required": ["location"]}}
_WEATHER_FUNCTION = {"type": "function", "function": {"name": "get_weather",
                                                      "parameters": _WEATHER_TOOL["input_schema"],
                                                      "description": _WEATHER_TOOL["description"]}}
_BASE = {"model": "claude-sonnet-4-5", "max_tokens": 1024}

# (name, the Messages request body, the chat body expected besides model and max_tokens)
DOCUMENTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("basic request", {"messages": [{"role": "user", "content": "Hello, world"}]},
     {"messages": [{"role": "user", "content": "Hello, world"}]}),
    ("multiple conversational turns", {"messages": [
        {"role": "user", "content": "Hello there."},
        {"role": "assistant", "content": "Hi, I'm Claude. How can I help you?"},
        {"role": "user", "content": "Can you explain LLMs in plain English?"}]},
     {"messages": [{"role": "user", "content": "Hello there."},
                   {"role": "assistant", "content": "Hi, I'm Claude. How can I help you?"},
                   {"role": "user", "content": "Can you explain LLMs in plain English?"}]}),
    ("system prompt as a string", {"system": "You are a seasoned data scientist at a Fortune 500 company.",
                                   "messages": [{"role": "user", "content": "Hi"}]},
     {"messages": [{"role": "system", "content": "You are a seasoned data scientist at a Fortune 500 company."},
                   {"role": "user", "content": "Hi"}]}),
    ("system prompt as cached text blocks (Claude Code)", {
        "system": [{"type": "text", "text": "You are Claude Code."},
                   {"type": "text", "text": "Be concise.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                                  {"type": "text", "text": "fix the bug",
                                                   "cache_control": {"type": "ephemeral"}}]}]},
     {"messages": [{"role": "system", "content": "You are Claude Code.\nBe concise."},
                   {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                                {"type": "text", "text": "fix the bug"}]}]}),
    ("vision, base64 image", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
        {"type": "text", "text": "What is in the above image?"}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
         {"type": "text", "text": "What is in the above image?"}]}]}),
    ("vision, image by URL", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/ant.jpg"}},
        {"type": "text", "text": "Describe this image."}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/ant.jpg"}},
         {"type": "text", "text": "Describe this image."}]}]}),
    ("PDF document, base64", {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "text", "text": "Summarize it."}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "document.pdf"}},
         {"type": "text", "text": "Summarize it."}]}]}),
    ("tools with input_schema", {
        "tools": [_WEATHER_TOOL],
        "messages": [{"role": "user", "content": "What's the weather like in San Francisco?"}]},
     {"messages": [{"role": "user", "content": "What's the weather like in San Francisco?"}],
      "tools": [_WEATHER_FUNCTION]}),
    ("tool_use then tool_result", {"tools": [_WEATHER_TOOL], "messages": [
        {"role": "user", "content": "What's the weather like in San Francisco?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "<thinking>I need to use get_weather.</thinking>"},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA", "unit": "celsius"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"}]}]},
     {"tools": [_WEATHER_FUNCTION], "messages": [
         {"role": "user", "content": "What's the weather like in San Francisco?"},
         {"role": "assistant", "content": "<thinking>I need to use get_weather.</thinking>", "tool_calls": [
             {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'}}]},
         {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"}]}),
    ("tool_result with an image, an error and text after it", {"messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}},
                                          {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "screenshot:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True, "content": "no such file"},
            {"type": "text", "text": "What do you see?"}]}]},
     {"messages": [
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "toolu_1", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
             {"id": "toolu_2", "type": "function", "function": {"name": "read", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "toolu_1", "content": "screenshot:"},
         {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such file"},
         {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                                      {"type": "text", "text": "What do you see?"}]}]}),
    ("tool_choice tool, parallel use disabled", {
        "tools": [_WEATHER_TOOL], "messages": [{"role": "user", "content": "x"}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_WEATHER_FUNCTION],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False}),
    ("tool_choice any", {"tools": [_WEATHER_TOOL], "tool_choice": {"type": "any"},
                         "messages": [{"role": "user", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_WEATHER_FUNCTION], "tool_choice": "required"}),
    ("tool_choice none", {"tools": [_WEATHER_TOOL], "tool_choice": {"type": "none"},
                          "messages": [{"role": "user", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "tools": [_WEATHER_FUNCTION], "tool_choice": "none"}),
    ("sampling, stop sequences and metadata.user_id", {
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
        "messages": [{"role": "user", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "temperature": 0.5, "top_p": 0.9, "top_k": 40,
      "stop": ["\n\nHuman:"], "user": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"}),
    ("extended thinking, budget 10000", {
        "max_tokens": 16000, "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [{"role": "user", "content": "Are there infinitely many primes?"}]},
     {"max_tokens": 16000, "reasoning_effort": "high",
      "messages": [{"role": "user", "content": "Are there infinitely many primes?"}]}),
    ("earlier thinking blocks are not sent back", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "EuYB"},
                                          {"type": "redacted_thinking", "data": "xyz"},
                                          {"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"}]},
     {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                   {"role": "user", "content": "c"}]}),
    ("adaptive thinking with an effort; JSON output", {
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "max", "format": {
            "type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "messages": [{"role": "user", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "response_format": {
         "type": "json_schema", "json_schema": {"name": "output", "schema": {
             "type": "object", "properties": {"a": {"type": "string"}}}}}}),
    ("streaming asks for the usage", {"stream": True, "messages": [{"role": "user", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "stream": True, "stream_options": {"include_usage": True}}),
]


@pytest.mark.parametrize(("body", "expected"), [case[1:] for case in DOCUMENTED], ids=[case[0] for case in DOCUMENTED])
def test_documented_requests(body: dict[str, Any], expected: dict[str, Any]) -> None:
    chat, ask = chat_request({**_BASE, **body})
    assert chat == {"model": "claude-sonnet-4-5", "max_tokens": 1024, **expected}
    assert ask == MessagesAsk("claude-sonnet-4-5", stream=body.get("stream") is True,
                              thinking="thinking" in body and body["thinking"]["type"] != "disabled")


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (2048, "medium"), (4096, "medium"), (4097, "high"),
                                                (31999, "high")])
def test_thinking_budgets_become_the_effort_whose_budget_covers_them(budget: int, effort: str) -> None:
    chat, _ = chat_request({**_BASE, "thinking": {"type": "enabled", "budget_tokens": budget},
                            "messages": [{"role": "user", "content": "x"}]})
    assert chat["reasoning_effort"] == effort


MALFORMED = [
    ("not an object", [], None),
    ("no model", {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ("no max_tokens", {"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("max_tokens zero", {**_BASE, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("max_tokens a string", {**_BASE, "max_tokens": "5", "messages": [{"role": "user", "content": "x"}]},
     "max_tokens"),
    ("no messages", {**_BASE, "messages": []}, "messages"),
    ("only empty content", {**_BASE, "system": "s", "messages": [{"role": "user", "content": []}]}, "messages"),
    ("a system role in messages", {**_BASE, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ("content a number", {**_BASE, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("temperature a string", {**_BASE, "temperature": "hot", "messages": [{"role": "user", "content": "x"}]},
     "temperature"),
    ("stop_sequences a number", {**_BASE, "stop_sequences": 3, "messages": [{"role": "user", "content": "x"}]},
     "stop_sequences"),
    ("system a number", {**_BASE, "system": 3, "messages": [{"role": "user", "content": "x"}]}, "system"),
    ("a tool without name", {**_BASE, "tools": [{"input_schema": {}}], "messages": [{"role": "user", "content": "x"}]},
     "tools[0]"),
    ("a text block without text", {**_BASE, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "messages[0].content[0].text"),
]


@pytest.mark.parametrize(("body", "param"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_requests_are_invalid(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_request(body)
    assert caught.value.status_code == 400 and caught.value.param == param


UNTRANSLATABLE = [
    ("a server tool (web search)", {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]},
     "tools[0].type"),
    ("Anthropic's bash tool", {"tools": [_WEATHER_TOOL, {"type": "bash_20250124", "name": "bash"}]}, "tools[1].type"),
    ("an image from the Files API", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}]}]},
     "messages[0].content[0].source.type"),
    ("a document by URL", {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]}]},
     "messages[0].content[0].source.type"),
    ("a search_result block", {"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x"}]}]},
     "messages[0].content[0].type"),
    ("a server_tool_use block in history", {"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}]}]},
     "messages[1].content[0].type"),
]


@pytest.mark.parametrize(("extra", "param"), [case[1:] for case in UNTRANSLATABLE],
                         ids=[case[0] for case in UNTRANSLATABLE])
def test_what_chat_cannot_carry_is_a_retryable_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    body = {**_BASE, "messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(UpstreamError) as caught:
        chat_request(body)
    error = caught.value
    # Retryable: a Claude channel for the same model takes the body as it is.
    assert (error.status_code, error.code, error.param, error.retryable) == (400, "unsupported_by_channel", param, True)


def test_count_tokens_counts_the_translated_prompt_and_tools() -> None:
    counter = Counter("gpt-4o")
    plain = count_tokens({"model": "m", "messages": [{"role": "user", "content": "Hello, world"}]}, counter)
    with_tools = count_tokens({"model": "m", "tools": [_WEATHER_TOOL],
                               "messages": [{"role": "user", "content": "Hello, world"}]}, counter)
    # OpenAI's cookbook count: 3 to prime the reply, 3 for the message, 3 for "Hello", ",", " world".
    assert plain == b'{"input_tokens":9}'
    assert int(with_tools.split(b":")[1].rstrip(b"}")) > 9


def test_what_the_sdk_sends_is_translated() -> None:
    upstream = Upstream(whole=HELLO)
    client = anthropic_client(upstream)
    # anthropic 2.x has no sampling parameters any more (temperature only through extra_body).
    client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, system="Be brief.",
                           extra_body={"temperature": 0.2},
                           messages=[{"role": "user", "content": "Hello, Claude"}], metadata={"user_id": "u-1"},
                           stop_sequences=["END"], thinking={"type": "enabled", "budget_tokens": 2048})
    assert upstream.chat == [{"model": "claude-sonnet-4-5", "max_tokens": 1024, "temperature": 0.2,
                              "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hello, Claude"}],
                              "stop": ["END"], "reasoning_effort": "medium", "user": "u-1"}]
    # anthropic 2.x sends the key as a Bearer token and its own API version.
    headers = upstream.headers[0]
    assert headers["authorization"] == "Bearer sk-tollway" and "x-api-key" not in headers
    assert headers["anthropic-version"]
    assert client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "Hello, world"}]) \
        .input_tokens == 9
