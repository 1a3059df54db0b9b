"""Baidu ERNIE (channel type 15) through Tollway with the official openai SDK and a mock wenxinworkshop upstream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.baidu_mock import BaiduMock

KEY = "ak-good|sk-good"
HI: Any = [{"role": "system", "content": "你是一个助手"}, {"role": "user", "content": "介绍一下你自己"}]
MODELS = "ERNIE-4.0-8K,ERNIE-3.5-8K,ERNIE-Speed-128K,Embedding-V1"
WEATHER: Any = [{"type": "function", "function": {"name": "get_weather", "description": "weather of a city",
                                             "parameters": {"type": "object", "properties": {
                                                 "city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[BaiduMock, str]]:
    mock = BaiduMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def baidu(upstream: tuple[BaiduMock, str]) -> BaiduMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture
def ernie(gateway: Gateway, upstream: tuple[BaiduMock, str], baidu: BaiduMock) -> Gateway:
    gateway.add_channel(upstream[1], type=15, key=KEY, models=MODELS)
    return gateway


def _log(gateway: Gateway) -> dict[str, Any]:
    gateway.flush()
    logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return logs[0]


def test_whole_answer_and_token_exchanged_once(ernie: Gateway, baidu: BaiduMock) -> None:
    client = ernie.openai()
    for _ in range(3):
        answer = client.chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
        assert answer.choices[0].message.content == "你好，我是文心一言。"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (14, 4)
    assert baidu.token_calls == 1
    sent = baidu.requests[-1]
    assert sent.path.endswith("/wenxinworkshop/chat/completions_pro")
    assert sent.query["access_token"] in baidu.tokens
    assert sent.body["system"] == "你是一个助手"
    assert sent.body["messages"] == [{"role": "user", "content": "介绍一下你自己"}]
    log = _log(ernie)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (14, 4)


def test_stream_with_usage_quirk(ernie: Gateway, baidu: BaiduMock) -> None:
    stream = ernie.openai().chat.completions.create(model="ERNIE-3.5-8K", messages=HI, stream=True,
                                                    stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "你好，我是文心一言。"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    # Four chunks of two tokens each: the cumulative total minus the prompt, not the last chunk's count.
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (14, 8)
    assert baidu.requests[-1].path.endswith("/chat/completions") and baidu.requests[-1].body["stream"] is True
    log = _log(ernie)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (14, 8)


def test_stream_is_relayed_incrementally(ernie: Gateway, baidu: BaiduMock) -> None:
    gate = threading.Event()
    baidu.plan("ernie-speed-128k", gate=gate)
    stream = ernie.openai().chat.completions.create(model="ERNIE-Speed-128K", messages=HI, stream=True)
    received = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # the mock holds the rest until the first piece has reached the client
    assert "".join(received) == "你好，我是文心一言。"


def test_tool_calls_whole_and_streamed(ernie: Gateway, baidu: BaiduMock) -> None:
    baidu.plan("completions_pro", function_call={"name": "get_weather", "arguments": "{\"city\":\"北京\"}"})
    client = ernie.openai()
    answer = client.chat.completions.create(model="ERNIE-4.0-8K", messages=HI, tools=WEATHER)
    call: Any = (answer.choices[0].message.tool_calls or [])[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments == "{\"city\":\"北京\"}"
    assert baidu.requests[-1].body["functions"][0]["name"] == "get_weather"
    chunks = list(client.chat.completions.create(model="ERNIE-4.0-8K", messages=HI, tools=WEATHER,
                                                 stream=True))
    deltas: list[Any] = [c.choices[0].delta.tool_calls[0] for c in chunks
                         if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].id and deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert "".join(d.function.arguments or "" for d in deltas) == "{\"city\":\"北京\"}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # A follow-up turn with the tool's result becomes Baidu's function turn.
    follow_up: Any = [
        *HI, answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "{\"temp\":25}"}]
    client.chat.completions.create(model="ERNIE-4.0-8K", tools=WEATHER, messages=follow_up)
    assert baidu.requests[-1].body["messages"][-1] == {"role": "function", "name": "get_weather",
                                                       "content": "{\"temp\":25}"}


def test_embeddings(ernie: Gateway, baidu: BaiduMock) -> None:
    result = ernie.openai().embeddings.create(model="Embedding-V1", input=["一", "二"])
    assert [item.embedding for item in result.data] == [[0.25, -0.5, 0.0], [0.25, -0.5, 1.0]]
    assert result.usage.prompt_tokens == 6
    assert baidu.requests[-1].path.endswith("/embeddings/embedding-v1")
    assert baidu.requests[-1].body == {"input": ["一", "二"]}


def test_error_with_http_200_is_mapped(ernie: Gateway, baidu: BaiduMock) -> None:
    baidu.plan("completions_pro", error_code=336003, error_msg="the max_output_tokens is invalid")
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    baidu.plan("completions_pro", error_code=18, error_msg="Open api qps request limit reached")
    # As a plain JSON body answering a stream request, too.
    with pytest.raises(openai.RateLimitError, match="qps"):
        list(ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI, stream=True))


def test_error_mid_stream_reaches_the_client(ernie: Gateway, baidu: BaiduMock) -> None:
    baidu.plan("completions", error_code=336100, error_msg="try again later", error_after=2)
    stream = ernie.openai().chat.completions.create(model="ERNIE-3.5-8K", messages=HI, stream=True)
    with pytest.raises(openai.APIError, match="try again later"):
        list(stream)


def test_revoked_access_token_is_an_auth_error(ernie: Gateway, baidu: BaiduMock) -> None:
    ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    baidu.tokens.clear()  # Baidu no longer knows the cached token: error_code 110 with HTTP 200
    with pytest.raises(openai.AuthenticationError, match="Access token invalid"):
        ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)


def test_wrong_secret_fails_the_exchange(gateway: Gateway, upstream: tuple[BaiduMock, str], baidu: BaiduMock) -> None:
    gateway.add_channel(upstream[1], type=15, key="ak-good|wrong", models=MODELS)
    with pytest.raises(openai.AuthenticationError, match="unknown client id"):
        gateway.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    assert not baidu.requests  # no chat call without a token


def test_revoked_access_token_is_renewed_for_the_next_call(ernie: Gateway, baidu: BaiduMock) -> None:
    ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    baidu.tokens.clear()
    with pytest.raises(openai.AuthenticationError):
        ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    answer = ernie.openai().chat.completions.create(model="ERNIE-4.0-8K", messages=HI)
    assert answer.choices[0].message.content and baidu.token_calls == 2
