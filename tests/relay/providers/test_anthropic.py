"""Anthropic channels (type 14) end to end: the openai SDK → Tollway → a mock Anthropic Messages API."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.harness import ROOT_TOKEN, Gateway, ServerThread, settings_for
from tests.upstreams.anthropic_mock import AnthropicMock

MODEL = "claude-sonnet-4-20250514"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "weather of a city", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")


@pytest.fixture
def gw(gateway: Gateway, claude: AnthropicMock, claude_server: tuple[AnthropicMock, str]) -> Gateway:
    gateway.add_channel(claude_server[1], type=14, key="sk-ant-mock", models=f"{MODEL},claude-3-haiku-20240307")
    return gateway


def logs(gateway: Gateway) -> list[dict[str, Any]]:
    gateway.flush()
    rows: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return rows


def test_whole_answer_usage_and_wire_format(gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(MODEL, cache_read=100, cache_creation=4)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "user", "content": "there"}]
    answer = gw.openai().chat.completions.create(model=MODEL, messages=messages, temperature=0.5,
                                                 stop=["END"])
    assert answer.choices[0].message.content == "Hello from Claude."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.id == "chatcmpl-msg_01T4jd6NyD9xGGtTPDC4ogy5"
    usage = answer.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (125, 4)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 100
    sent = claude.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-mock" and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == {"model": MODEL, "max_tokens": 4096, "system": "Be brief.", "temperature": 0.5,
                         "stop_sequences": ["END"], "messages": [
                             {"role": "user", "content": [{"type": "text", "text": "hi"},
                                                          {"type": "text", "text": "there"}]}]}
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) == (125, 4, False)


def test_stream_text_usage_and_framing(gw: Gateway, claude: AnthropicMock) -> None:
    body = {"model": MODEL, "messages": HI, "stream": True, "stream_options": {"include_usage": True},
            "max_completion_tokens": 300}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": "Bearer sk-" + ROOT_TOKEN}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]" and lines.count("data: [DONE]") == 1
    assert claude.requests[-1].json["stream"] is True and claude.requests[-1].json["max_tokens"] == 300
    chunks = list(gw.openai().chat.completions.create(
        model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Claude."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (21, 4)
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) == (21, 4, True)


def test_stream_is_relayed_incrementally(gw: Gateway, claude: AnthropicMock) -> None:
    """The mock holds the stream after its first delta; the client must see that delta meanwhile."""
    gate = threading.Event()
    claude.plan(MODEL, gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model=MODEL, messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # were Tollway buffering, the first piece could not arrive before this
    assert "".join(received) == "Hello from Claude."


def test_tool_call_whole_and_round_trip(gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(MODEL, pieces=["Let me check."], tool_call=True)
    client = gw.openai()
    answer = client.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER],
                                            tool_choice="required")
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content == "Let me check."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", '{"location":"Paris"}')
    sent = claude.requests[-1].json
    assert sent["tools"] == [{"name": "get_weather", "description": "weather of a city",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any"}
    # The client sends the call and its result back; the mock checks the tool_result matches the tool_use.
    claude.plan(MODEL)
    follow = [*HI, message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}]
    answer = client.chat.completions.create(model=MODEL, messages=follow, tools=[WEATHER])
    assert answer.choices[0].message.content == "Hello from Claude."
    sent = claude.requests[-1].json
    assert sent["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                                                 "name": "get_weather", "input": {"location": "Paris"}}
    assert sent["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "content": "18C and sunny"}]}


def test_tool_call_deltas_stream(gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(MODEL, pieces=[], tool_call=True)
    stream = gw.openai().chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER], stream=True)
    deltas = [call for chunk in stream if chunk.choices for call in chunk.choices[0].delta.tool_calls or []]
    first = deltas[0]
    assert (first.index, first.id, first.type) == (0, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "function")
    assert first.function is not None and (first.function.name, first.function.arguments) == ("get_weather", "")
    assert all(d.id is None and d.index == 0 for d in deltas[1:])
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == '{"location": "Paris"}'
    # A client that wants one answer gets the same call assembled.
    answer = gw.openai().chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER])
    assert answer.choices[0].message.tool_calls is not None


def test_thinking_becomes_reasoning_content(gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(MODEL, thinking=["The user ", "greets me."])
    chunks = list(gw.openai().chat.completions.create(model=MODEL, messages=HI, stream=True,
                                                      reasoning_effort="low"))
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks
                        if c.choices)
    assert reasoning == "The user greets me."
    assert claude.requests[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    answer = gw.openai().chat.completions.create(model=MODEL, messages=HI)
    assert (answer.choices[0].message.model_extra or {})["reasoning_content"] == "The user greets me."


def test_image_urls_are_sent_as_base64(tmp_path: Path, claude: AnthropicMock,
                                       claude_server: tuple[AnthropicMock, str]) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def image(request: object) -> Response:
        return Response(PNG, media_type="image/png")

    images = ServerThread(Starlette(routes=[Route("/cat.png", image)]), lifespan="off").start()
    gateway = Gateway(settings_for(tmp_path, USER_CONTENT_ALLOW_PRIVATE="true"))
    try:
        gateway.add_channel(claude_server[1], type=14, key="sk-ant-mock", models=MODEL)
        content = [{"type": "text", "text": "What is this?"},
                   {"type": "image_url", "image_url": {"url": images.url + "/cat.png"}},
                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
        gateway.openai().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
        blocks = claude.requests[-1].json["messages"][0]["content"]
        assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                         "data": base64.b64encode(PNG).decode()}}
        assert blocks[2]["source"]["data"] == "iVBORw0KGgo="
    finally:
        gateway.close()
        images.stop()


ERRORS = [
    (401, "authentication_error", openai.AuthenticationError),
    (429, "rate_limit_error", openai.RateLimitError),
    (529, "overloaded_error", openai.InternalServerError),
    (400, "invalid_request_error", openai.BadRequestError),
]


def test_errors(gw: Gateway, claude: AnthropicMock) -> None:
    for status, kind, error in ERRORS:
        claude.plan(MODEL, status=status, error_type=kind, error_message=f"mock {kind}")
        with pytest.raises(error, match=f"mock {kind}") as caught:
            gw.openai().chat.completions.create(model=MODEL, messages=HI)
        assert caught.value.status_code == (503 if status == 529 else status)
        with pytest.raises(error):
            list(gw.openai().chat.completions.create(model=MODEL, messages=HI, stream=True))


def test_wrong_key_is_anthropics_auth_error(gw: Gateway, claude: AnthropicMock) -> None:
    claude.keys = {"sk-ant-other"}
    with pytest.raises(openai.AuthenticationError, match="invalid x-api-key"):
        gw.openai().chat.completions.create(model=MODEL, messages=HI)


def test_error_event_with_200_before_content_goes_to_another_channel(
        gw: Gateway, claude: AnthropicMock, claude_server: tuple[AnthropicMock, str]) -> None:
    claude.plan("claude-3-haiku-20240307", error_after=0, error_type="overloaded_error", error_message="Overloaded")
    # Without another channel the client sees Anthropic's overload as a 503.
    with pytest.raises(openai.InternalServerError, match="Overloaded"):
        list(gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True))
    # With one, the error came before any output, so the other channel answers instead.
    gw.add_channel(claude_server[1], type=14, key="sk-ant-mock", models="claude-3-haiku-20240307", priority=-1,
                   model_mapping='{"claude-3-haiku-20240307": "' + MODEL + '"}')
    gw.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    stream = gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from Claude."


def test_error_event_mid_stream_reaches_the_client(gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(MODEL, error_after=2, error_type="api_error", error_message="Internal server error")
    received = []
    with pytest.raises(openai.APIError, match="Internal server error"):
        for chunk in gw.openai().chat.completions.create(model=MODEL, messages=HI, stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "Hello from"
    rows = logs(gw)
    assert len(rows) == 1 and rows[0]["completion_tokens"] > 0  # what was delivered is billed, once
