"""Gemini channels (type 24) end to end: the openai SDK → Tollway → a mock Gemini API speaking its wire format."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.harness import Gateway, settings_for
from tests.upstreams.gemini_mock import KEY, PIXEL, GeminiMock

MODELS = "gemini-2.0-flash,gemini-2.5-flash,gemini-pro,text-embedding-004"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "weather of a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def gemini(gemini_server: tuple[GeminiMock, str]) -> GeminiMock:
    gemini_server[0].reset()
    return gemini_server[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, gemini_server: tuple[GeminiMock, str]) -> Iterator[Gateway]:
    """One gateway for the tests that need no fresh database (starting one costs about a second)."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("gemini")))
    gateway.add_channel(gemini_server[1], type=24, key=KEY, models=MODELS)
    yield gateway
    gateway.close()


@pytest.fixture
def gw(shared: Gateway, gemini: GeminiMock) -> Gateway:
    """The shared gateway, with the mock's plans and recorded requests cleared."""
    return shared


def logs(gateway: Gateway) -> list[dict[str, object]]:
    gateway.flush()
    rows: list[dict[str, object]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return rows


def test_chat_whole_answer(gw: Gateway, gemini: GeminiMock) -> None:
    answer = gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI)
    assert answer.choices[0].message.content == "Hello from Gemini."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (9, 4)
    sent = gemini.requests[-1]
    assert (sent.version, sent.model, sent.action) == ("v1beta", "gemini-2.0-flash", "generateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert (logs(gw)[0]["prompt_tokens"], logs(gw)[0]["completion_tokens"]) == (9, 4)


def test_v1_is_kept_for_v1_models_and_left_for_system_instructions(gw: Gateway, gemini: GeminiMock) -> None:
    gw.openai().chat.completions.create(model="gemini-pro", messages=HI)
    assert gemini.requests[-1].version == "v1"
    gw.openai().chat.completions.create(model="gemini-pro", messages=[{"role": "system", "content": "brief"}, *HI])
    assert gemini.requests[-1].version == "v1beta"
    assert gemini.requests[-1].body["systemInstruction"] == {"parts": [{"text": "brief"}]}


def test_stream_with_usage(gw: Gateway, gemini: GeminiMock) -> None:
    stream = gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=True,
                                                 stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Gemini."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (9, 4)
    sent = gemini.requests[-1]
    assert sent.action == "streamGenerateContent" and sent.query == "alt=sse"
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) == (9, 4, True)


def test_stream_is_relayed_incrementally(gw: Gateway, gemini: GeminiMock) -> None:
    """The mock holds the stream after its first event; the client must see that event meanwhile."""
    gate = threading.Event()
    gemini.plan("gemini-2.0-flash", gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # were Tollway buffering, this first piece could not arrive before the gate opens
    assert "".join(received) == "Hello from Gemini."


def test_thinking_stream_reasoning_and_usage(gw: Gateway, gemini: GeminiMock) -> None:
    gemini.plan("gemini-2.5-flash", thoughts=["Let me ", "think."], pieces=["42"], thoughts_tokens=30,
                prompt_tokens=12)
    chunks = list(gw.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI, stream=True,
                                                      reasoning_effort="high"))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "Let me think."
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "42"
    config = gemini.requests[-1].body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 1 + 30)


def test_tools_whole_then_tool_result(gw: Gateway, gemini: GeminiMock) -> None:
    gemini.plan("gemini-2.0-flash", pieces=[], function_calls=[{"name": "get_weather", "args": {"city": "Boston"}}])
    client = gw.openai()
    answer = client.chat.completions.create(model="gemini-2.0-flash", messages=HI, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "tool_calls"
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Boston"}'
    assert call.id.startswith("call_")
    assert gemini.requests[-1].body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "weather of a city",
        "parametersJsonSchema": WEATHER["function"]["parameters"]}]}]
    gemini.plan("gemini-2.0-flash", pieces=["It is sunny."])
    follow = client.chat.completions.create(model="gemini-2.0-flash", tools=[WEATHER], messages=[
        *HI, answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'}])
    assert follow.choices[0].message.content == "It is sunny."
    contents = gemini.requests[-1].body["contents"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                                        "args": {"city": "Boston"}}}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                           "response": {"sky": "clear"}}}]}


def test_tool_call_deltas_stream(gw: Gateway, gemini: GeminiMock) -> None:
    gemini.plan("gemini-2.0-flash", pieces=["Checking."], function_calls=[
        {"name": "get_weather", "args": {"city": "Boston"}}, {"name": "get_weather", "args": {"city": "Paris"}}])
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=True,
                                                     tools=[WEATHER]):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += delta.id or ""
                slot["name"] += delta.function.name or "" if delta.function else ""
                slot["arguments"] += delta.function.arguments or "" if delta.function else ""
    assert [c["arguments"] for c in calls.values()] == ['{"city":"Boston"}', '{"city":"Paris"}']
    assert all(c["id"].startswith("call_") and c["name"] == "get_weather" for c in calls.values())
    assert finish == "tool_calls"


def test_image_urls_are_fetched_and_sent_inline(tmp_path: Path, gemini: GeminiMock,
                                                gemini_server: tuple[GeminiMock, str]) -> None:
    gateway = Gateway(settings_for(tmp_path, USER_CONTENT_ALLOW_PRIVATE="true"))
    try:
        gateway.add_channel(gemini_server[1], type=24, key=KEY, models=MODELS)
        content = [{"type": "text", "text": "what is this?"},
                   {"type": "image_url", "image_url": {"url": gemini_server[1] + "/files/pixel.png"}},
                   {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/AA=="}}]
        gateway.openai().chat.completions.create(model="gemini-2.0-flash",
                                                 messages=[{"role": "user", "content": content}])
        parts = gemini.requests[-1].body["contents"][0]["parts"]
        assert parts == [{"text": "what is this?"},
                         {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PIXEL).decode()}},
                         {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AA=="}}]
    finally:
        gateway.close()


def test_embeddings(gw: Gateway, gemini: GeminiMock) -> None:
    result = gw.openai().embeddings.create(model="text-embedding-004", input=["hello", "hi there"])
    assert [item.embedding for item in result.data] == [[5.0, 0.25, 0.25], [8.0, 0.25, 0.25]]
    assert result.usage.prompt_tokens > 0
    sent = gemini.requests[-1]
    assert (sent.version, sent.action) == ("v1", "batchEmbedContents")
    assert sent.body["requests"][0] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}
    assert logs(gw)[0]["prompt_tokens"] == result.usage.prompt_tokens


def test_bad_key_is_401(gateway: Gateway, gemini: GeminiMock, gemini_server: tuple[GeminiMock, str]) -> None:
    gateway.add_channel(gemini_server[1], type=24, key="wrong", models=MODELS)
    with pytest.raises(openai.AuthenticationError, match="API key not valid"):
        gateway.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI)


def test_bad_key_channel_is_retried_on_another(gateway: Gateway, gemini: GeminiMock,
                                               gemini_server: tuple[GeminiMock, str]) -> None:
    gateway.add_channel(gemini_server[1], type=24, key="wrong", models=MODELS, priority=10)
    gateway.add_channel(gemini_server[1], type=24, key=KEY, models=MODELS)
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    answer = gateway.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI)
    assert answer.choices[0].message.content == "Hello from Gemini."


@pytest.mark.parametrize("status,rpc_status,error", [
    (429, "RESOURCE_EXHAUSTED", openai.RateLimitError),
    (400, "INVALID_ARGUMENT", openai.BadRequestError),
    (403, "PERMISSION_DENIED", openai.PermissionDeniedError),
    (503, "UNAVAILABLE", openai.InternalServerError),
])
def test_provider_errors(gw: Gateway, gemini: GeminiMock, status: int, rpc_status: str,
                         error: type[openai.APIStatusError]) -> None:
    gemini.plan("gemini-2.0-flash", status=status, rpc_status=rpc_status, message=f"mock {rpc_status}")
    with pytest.raises(error, match=f"mock {rpc_status}") as raised:
        gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI)
    assert raised.value.status_code == status


def test_blocked_prompt_is_a_content_filter_error(gw: Gateway, gemini: GeminiMock) -> None:
    gemini.plan("gemini-2.0-flash", blocked="SAFETY")
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            result = gw.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=stream)
            list(result) if stream else None
        assert raised.value.code == "content_filter"


def test_error_with_200_mid_stream_reaches_the_client(gateway: Gateway, gemini: GeminiMock,
                                                      gemini_server: tuple[GeminiMock, str]) -> None:
    gateway.add_channel(gemini_server[1], type=24, key=KEY, models=MODELS)
    gemini.plan("gemini-2.0-flash", error_after=2)
    received = []
    with pytest.raises(openai.APIError, match="internal error"):
        for chunk in gateway.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "Hello from"
    assert len(logs(gateway)) == 1  # what was delivered is billed once


def test_error_with_200_as_first_event_is_retried(gateway: Gateway, gemini: GeminiMock,
                                                  gemini_server: tuple[GeminiMock, str]) -> None:
    gemini.plan("gemini-2.0-overloaded", error_after=0)
    gateway.add_channel(gemini_server[1], type=24, key=KEY, models="gemini-2.0-flash", priority=10,
                        model_mapping={"gemini-2.0-flash": "gemini-2.0-overloaded"})
    gateway.add_channel(gemini_server[1], type=24, key=KEY, models="gemini-2.0-flash")
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    stream = gateway.openai().chat.completions.create(model="gemini-2.0-flash", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from Gemini."
    assert [r.model for r in gemini.requests] == ["gemini-2.0-overloaded", "gemini-2.0-flash"]
