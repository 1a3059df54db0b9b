"""Cohere channels (type 35) end to end: the openai SDK → Tollway → a mock Cohere v1 chat API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.cohere_mock import KEY, CohereMock

MODELS = "command-r,command-r-internet,command-a-03-2025"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "weather of a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def cohere_server() -> Iterator[tuple[CohereMock, str]]:
    mock = CohereMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def cohere(cohere_server: tuple[CohereMock, str]) -> CohereMock:
    cohere_server[0].reset()
    return cohere_server[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, cohere_server: tuple[CohereMock, str]) -> Iterator[Gateway]:
    """One gateway for the tests that need no fresh database (starting one costs about a second)."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("cohere")))
    gateway.add_channel(cohere_server[1], type=35, key=KEY, models=MODELS)
    yield gateway
    gateway.close()


@pytest.fixture
def gw(shared: Gateway, cohere: CohereMock) -> Gateway:
    """The shared gateway, with the mock's plans and recorded requests cleared."""
    return shared


def logs(gateway: Gateway) -> list[dict[str, object]]:
    gateway.flush()
    rows: list[dict[str, object]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return rows


def test_chat_whole_answer_with_billed_usage(gw: Gateway, cohere: CohereMock) -> None:
    answer = gw.openai().chat.completions.create(
        model="command-r", messages=[{"role": "system", "content": "be brief"}, *HI], top_p=1.0)
    assert answer.choices[0].message.content == "Hello from Cohere."
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)
    headers, body = cohere.requests[-1]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert body == {"model": "command-r", "message": "hi", "preamble": "be brief", "p": 0.99}
    assert (logs(gw)[0]["prompt_tokens"], logs(gw)[0]["completion_tokens"]) == (6, 4)


def test_internet_model_searches_the_web(gw: Gateway, cohere: CohereMock) -> None:
    gw.openai().chat.completions.create(model="command-r-internet", messages=HI)
    body = cohere.requests[-1][1]
    assert body["model"] == "command-r" and body["connectors"] == [{"id": "web-search"}]


def test_stream_with_usage(gw: Gateway, cohere: CohereMock) -> None:
    cohere.plan("command-r", input_tokens=15)
    chunks = list(gw.openai().chat.completions.create(model="command-r", messages=HI, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Cohere."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (15, 4)
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) == (15, 4, True)


def test_stream_is_relayed_incrementally(gw: Gateway, cohere: CohereMock) -> None:
    """The mock holds the stream after its first text; the client must see that text meanwhile."""
    gate = threading.Event()
    cohere.plan("command-r", gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model="command-r", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # were Tollway buffering, this first piece could not arrive before the gate opens
    assert "".join(received) == "Hello from Cohere."


def test_tools_whole_then_tool_result(gw: Gateway, cohere: CohereMock) -> None:
    cohere.plan("command-r", pieces=["I will check."],
                tool_calls=[{"name": "get_weather", "parameters": {"city": "Boston"}}])
    client = gw.openai()
    answer = client.chat.completions.create(model="command-r", messages=HI, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "tool_calls"
    call = answer.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Boston"}')
    assert cohere.requests[-1][1]["tools"][0]["parameter_definitions"] == {"city": {"type": "str", "required": True}}
    cohere.plan("command-r", pieces=["Sunny."])
    follow = client.chat.completions.create(model="command-r", tools=[WEATHER], messages=[
        *HI, answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'}])
    assert follow.choices[0].message.content == "Sunny."
    body = cohere.requests[-1][1]
    assert body["message"] == "" and body["tool_results"] == [
        {"call": {"name": "get_weather", "parameters": {"city": "Boston"}}, "outputs": [{"sky": "clear"}]}]


def test_tool_call_deltas_stream(gw: Gateway, cohere: CohereMock) -> None:
    cohere.plan("command-r", pieces=[], tool_calls=[{"name": "get_weather", "parameters": {"city": "Boston"}}])
    names, arguments, finish = [], "", None
    for chunk in gw.openai().chat.completions.create(model="command-r", messages=HI, stream=True,
                                                     tools=[WEATHER]):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                names += [delta.function.name] if delta.function and delta.function.name else []
                arguments += delta.function.arguments or "" if delta.function else ""
    assert names == ["get_weather"] and arguments == '{"city": "Boston"}' and finish == "tool_calls"


def test_bad_key_is_401(gateway: Gateway, cohere: CohereMock, cohere_server: tuple[CohereMock, str]) -> None:
    gateway.add_channel(cohere_server[1], type=35, key="wrong", models=MODELS)
    with pytest.raises(openai.AuthenticationError, match="invalid api token"):
        gateway.openai().chat.completions.create(model="command-r", messages=HI)


@pytest.mark.parametrize("status,error", [(429, openai.RateLimitError), (400, openai.BadRequestError),
                                          (500, openai.InternalServerError)])
def test_provider_errors(gw: Gateway, cohere: CohereMock, status: int, error: type[openai.APIStatusError]) -> None:
    cohere.plan("command-r", status=status, message=f"mock error {status}")
    for stream in (False, True):
        with pytest.raises(error, match=f"mock error {status}"):
            gw.openai().chat.completions.create(model="command-r", messages=HI, stream=stream)


def test_error_with_200_mid_stream_reaches_the_client(gw: Gateway, cohere: CohereMock) -> None:
    cohere.plan("command-r", error_finish_after=2)
    received = []
    with pytest.raises(openai.APIError, match="finish_reason ERROR"):
        for chunk in gw.openai().chat.completions.create(model="command-r", messages=HI, stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "Hello from"


def test_error_with_200_before_output_is_retried(gateway: Gateway, cohere: CohereMock,
                                                 cohere_server: tuple[CohereMock, str]) -> None:
    cohere.plan("command-broken", error_finish_after=0)
    gateway.add_channel(cohere_server[1], type=35, key=KEY, models="command-r", priority=10,
                        model_mapping={"command-r": "command-broken"})
    gateway.add_channel(cohere_server[1], type=35, key=KEY, models="command-r")
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    stream = gateway.openai().chat.completions.create(model="command-r", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from Cohere."
    assert [body["model"] for _, body in cohere.requests] == ["command-broken", "command-r"]
