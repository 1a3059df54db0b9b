"""Tencent Hunyuan (channel type 23) through Tollway with the official openai SDK and a mock TencentCloud API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.tencent_mock import TencentMock

KEY = "1250000000|AKIDmock|mock-secret-key"
HI: Any = [{"role": "system", "content": "你是混元"}, {"role": "user", "content": "计算1+1"}]
MODELS = "hunyuan-pro,hunyuan-lite,hunyuan-functioncall,hunyuan-vision,hunyuan-embedding"
WEATHER: Any = [{"type": "function", "function": {"name": "get_current_weather", "description": "获取当前地点的天气",
                                             "parameters": {"type": "object", "properties": {
                                                 "location": {"type": "string"}}, "required": ["location"]}}}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[TencentMock, str]]:
    mock = TencentMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def tencent(upstream: tuple[TencentMock, str]) -> TencentMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture
def hunyuan(gateway: Gateway, upstream: tuple[TencentMock, str], tencent: TencentMock) -> Gateway:
    gateway.add_channel(upstream[1], type=23, key=KEY, models=MODELS)
    return gateway


def _log(gateway: Gateway) -> dict[str, Any]:
    gateway.flush()
    logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return logs[0]


def test_whole_answer_with_a_verified_signature(hunyuan: Gateway, tencent: TencentMock) -> None:
    answer = hunyuan.openai().chat.completions.create(model="hunyuan-pro", messages=HI, temperature=0.5)
    assert answer.choices[0].message.content == "1+1=2" and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 5)
    sent = tencent.requests[-1]
    assert sent.action == "ChatCompletions" and sent.headers["authorization"].startswith("TC3-HMAC-SHA256 ")
    assert sent.body["Messages"] == [{"Role": "system", "Content": "你是混元"}, {"Role": "user", "Content": "计算1+1"}]
    assert sent.body["Temperature"] == 0.5 and sent.body["Stream"] is False


def test_stream_usage_from_the_last_chunk(hunyuan: Gateway, tencent: TencentMock) -> None:
    chunks = list(hunyuan.openai().chat.completions.create(model="hunyuan-lite", messages=HI, stream=True,
                                                           stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "1+1=2"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage] == [(4, 5)]
    log = _log(hunyuan)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (4, 5)


def test_stream_is_relayed_incrementally(hunyuan: Gateway, tencent: TencentMock) -> None:
    gate = threading.Event()
    tencent.plan("hunyuan-pro", gate=gate)
    received = []
    for chunk in hunyuan.openai().chat.completions.create(model="hunyuan-pro", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == "1+1=2"


def test_tools_whole_streamed_and_follow_up(hunyuan: Gateway, tencent: TencentMock) -> None:
    tencent.plan("hunyuan-functioncall", tool_call=True)
    client = hunyuan.openai()
    answer = client.chat.completions.create(model="hunyuan-functioncall", messages=HI, tools=WEATHER,
                                            tool_choice="auto")
    call: Any = (answer.choices[0].message.tool_calls or [])[0]
    assert answer.choices[0].finish_reason == "tool_calls" and call.id.startswith("call_")
    assert call.function.arguments == "{\"location\":\"北京\"}"
    assert tencent.requests[-1].body["Tools"][0]["Function"]["Parameters"].startswith("{")
    chunks = list(client.chat.completions.create(model="hunyuan-functioncall", messages=HI, tools=WEATHER,
                                                 stream=True))
    deltas: list[Any] = [c.choices[0].delta.tool_calls[0] for c in chunks
                         if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].id == "call_cq154vk2c3m1v7ep3530" and deltas[0].function.name == "get_current_weather"
    assert "".join(d.function.arguments or "" for d in deltas) == "{\"location\":\"北京\"}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    tencent.plan("hunyuan-functioncall")
    follow_up: Any = [
        *HI, answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "{\"temperature\":35}"}]
    client.chat.completions.create(model="hunyuan-functioncall", tools=WEATHER, messages=follow_up)
    sent = tencent.requests[-1].body["Messages"]
    assert sent[2]["ToolCalls"][0]["Id"] == call.id and sent[3] == {
        "Role": "tool", "Content": "{\"temperature\":35}", "ToolCallId": call.id}


def test_vision_contents(hunyuan: Gateway, tencent: TencentMock) -> None:
    content: Any = [{"type": "text", "text": "下面图片中是哪个公司的 Logo？"},
               {"type": "image_url", "image_url": {"url": "https://example.com/logo.png"}}]
    hunyuan.openai().chat.completions.create(model="hunyuan-vision", messages=[{"role": "user", "content": content}])
    assert tencent.requests[-1].body["Messages"][0]["Contents"] == [
        {"Type": "text", "Text": "下面图片中是哪个公司的 Logo？"},
        {"Type": "image_url", "ImageUrl": {"Url": "https://example.com/logo.png"}}]


def test_embeddings(hunyuan: Gateway, tencent: TencentMock) -> None:
    result = hunyuan.openai().embeddings.create(model="hunyuan-embedding", input=["a", "b"])
    assert [item.embedding for item in result.data] == [[0.125, -0.5, 0.0], [0.125, -0.5, 1.0]]
    assert result.usage.prompt_tokens == 10
    assert tencent.requests[-1].action == "GetEmbedding" and tencent.requests[-1].body == {"InputList": ["a", "b"]}


def test_errors_with_http_200(hunyuan: Gateway, tencent: TencentMock) -> None:
    client = hunyuan.openai()
    # Out-of-range temperatures are clamped to Hunyuan's [0, 2] rather than refused.
    client.chat.completions.create(model="hunyuan-pro", messages=HI, extra_body={"temperature": 4.8})
    assert tencent.requests[-1].body["Temperature"] == 2.0
    tencent.plan("hunyuan-pro", error=("InvalidParameter", "Messages must alternate"))
    with pytest.raises(openai.BadRequestError, match="Messages must alternate"):
        client.chat.completions.create(model="hunyuan-pro", messages=HI)
    tencent.plan("hunyuan-pro", error=("RequestLimitExceeded", "请求频率超过限制"))
    # A stream request answered with a plain JSON error body.
    with pytest.raises(openai.RateLimitError, match="请求频率"):
        list(client.chat.completions.create(model="hunyuan-pro", messages=HI, stream=True))
    tencent.plan("hunyuan-pro", error=("FailedOperation.EngineServerError", "engine error"), error_after=2)
    with pytest.raises(openai.APIError, match="engine error"):
        list(client.chat.completions.create(model="hunyuan-pro", messages=HI, stream=True))


def test_wrong_secret_is_a_signature_failure(gateway: Gateway, upstream: tuple[TencentMock, str],
                                             tencent: TencentMock) -> None:
    gateway.add_channel(upstream[1], type=23, key="1250000000|AKIDmock|not-the-secret", models=MODELS)
    with pytest.raises(openai.AuthenticationError, match="could not be validated"):
        gateway.openai().chat.completions.create(model="hunyuan-pro", messages=HI)
