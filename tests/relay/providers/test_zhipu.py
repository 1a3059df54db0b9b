"""Zhipu GLM (channel type 16) through Tollway with the official openai SDK and a mock BigModel upstream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.zhipu_mock import ZhipuMock

KEY = "abc123.s3cr3t"
HI: Any = [{"role": "user", "content": "你好"}]
MODELS = "glm-4,glm-4-flash,glm-4v,chatglm_turbo,chatglm_std,embedding-3,cogview-3"
WEATHER: Any = [{"type": "function", "function": {"name": "get_weather", "description": "weather of a city",
                                             "parameters": {"type": "object", "properties": {
                                                 "city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[ZhipuMock, str]]:
    mock = ZhipuMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def zhipu(upstream: tuple[ZhipuMock, str]) -> ZhipuMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture
def glm(gateway: Gateway, upstream: tuple[ZhipuMock, str], zhipu: ZhipuMock) -> Gateway:
    gateway.add_channel(upstream[1], type=16, key=KEY, models=MODELS)
    return gateway


def _log(gateway: Gateway) -> dict[str, Any]:
    gateway.flush()
    logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return logs[0]


def test_v4_whole_answer_with_a_verified_jwt(glm: Gateway, zhipu: ZhipuMock) -> None:
    answer = glm.openai().chat.completions.create(model="glm-4", messages=HI, top_p=1, temperature=1.5)
    assert answer.choices[0].message.content == "你好！我是智谱清言。"
    assert answer.object == "chat.completion"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (10, 4)
    sent = zhipu.requests[-1]
    assert sent.claims["api_key"] == "abc123" and sent.claims["exp"] > sent.claims["timestamp"] > 10**12
    assert (sent.body["top_p"], sent.body["temperature"]) == (0.99, 1.0)


def test_v4_stream(glm: Gateway, zhipu: ZhipuMock) -> None:
    stream = glm.openai().chat.completions.create(model="glm-4-flash", messages=HI, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "你好！我是智谱清言。"
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [4]
    log = _log(glm)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (10, 4)


def test_v4_stream_is_relayed_incrementally(glm: Gateway, zhipu: ZhipuMock) -> None:
    gate = threading.Event()
    zhipu.plan("glm-4", gate=gate)
    received = []
    for chunk in glm.openai().chat.completions.create(model="glm-4", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == "你好！我是智谱清言。"


def test_v4_tools_whole_and_streamed(glm: Gateway, zhipu: ZhipuMock) -> None:
    zhipu.plan("glm-4", tool_call=True)
    client = glm.openai()
    answer = client.chat.completions.create(model="glm-4", messages=HI, tools=WEATHER)
    call: Any = (answer.choices[0].message.tool_calls or [])[0]
    assert answer.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    chunks = list(client.chat.completions.create(model="glm-4", messages=HI, tools=WEATHER, stream=True))
    deltas: list[Any] = [c.choices[0].delta.tool_calls[0] for c in chunks
                         if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].id == "call_8231168139794583938" and deltas[0].function.arguments == ""
    assert "".join(d.function.arguments or "" for d in deltas) == "{\"city\":\"北京\"}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_vision_content_passes_to_v4(glm: Gateway, zhipu: ZhipuMock) -> None:
    content: Any = [{"type": "text", "text": "这是什么？"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    glm.openai().chat.completions.create(model="glm-4v", messages=[{"role": "user", "content": content}])
    assert zhipu.requests[-1].body["messages"][0]["content"] == content


def test_v3_whole_and_stream(glm: Gateway, zhipu: ZhipuMock) -> None:
    zhipu.plan("chatglm_std", pieces=["第一行\n第二行", "，完。"])
    client = glm.openai()
    answer = client.chat.completions.create(model="chatglm_std", messages=HI)
    assert answer.choices[0].message.content == "第一行\n第二行，完。"  # unquoted
    assert zhipu.requests[-1].path == "/api/paas/v3/model-api/chatglm_std/invoke"
    chunks = list(client.chat.completions.create(model="chatglm_std", messages=HI, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "第一行\n第二行，完。"
    assert zhipu.requests[-1].path == "/api/paas/v3/model-api/chatglm_std/sse-invoke"
    usage = [c.usage for c in chunks if c.usage]
    # meta reports no prompt tokens: the gateway counts the prompt itself.
    assert len(usage) == 1 and usage[0].completion_tokens == 2 and usage[0].prompt_tokens > 0


def test_v3_stream_is_relayed_incrementally(glm: Gateway, zhipu: ZhipuMock) -> None:
    gate = threading.Event()
    zhipu.plan("chatglm_turbo", gate=gate)
    received = []
    for chunk in glm.openai().chat.completions.create(model="chatglm_turbo", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == "你好！我是智谱清言。"


def test_embeddings_and_images(glm: Gateway, zhipu: ZhipuMock) -> None:
    client = glm.openai()
    result = client.embeddings.create(model="embedding-3", input="你好")
    assert result.data[0].embedding == [0.5, -0.25, 0.0] and result.usage.prompt_tokens == 4
    assert zhipu.requests[-1].body == {"model": "embedding-3", "input": "你好"}
    image = client.images.generate(model="cogview-3", prompt="一只猫")
    assert image.data is not None and image.data[0].url == "https://sfile.chatglm.cn/img/1.png"
    assert zhipu.requests[-1].path == "/api/paas/v4/images/generations"


def test_bad_secret_is_zhipus_401(gateway: Gateway, upstream: tuple[ZhipuMock, str], zhipu: ZhipuMock) -> None:
    gateway.add_channel(upstream[1], type=16, key="abc123.wrong-secret", models=MODELS)
    with pytest.raises(openai.AuthenticationError, match="Authorization Token"):
        gateway.openai().chat.completions.create(model="glm-4", messages=HI)
    # v3 answers the same failure with HTTP 200 and success:false.
    with pytest.raises(openai.AuthenticationError, match="Authorization Token"):
        gateway.openai().chat.completions.create(model="chatglm_std", messages=HI)


def test_rate_limit_and_mid_stream_errors(glm: Gateway, zhipu: ZhipuMock) -> None:
    zhipu.plan("glm-4", status=429, error={"error": {"code": "1302", "message": "您当前使用该API的并发数过高"}})
    with pytest.raises(openai.RateLimitError, match="并发数过高"):
        glm.openai().chat.completions.create(model="glm-4", messages=HI)
    zhipu.plan("glm-4", error={"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全"}},
               error_after=2)
    with pytest.raises(openai.APIError, match="不安全"):
        list(glm.openai().chat.completions.create(model="glm-4", messages=HI, stream=True))
    zhipu.plan("chatglm_std", error={"msg": "engine overloaded"}, error_after=1)
    with pytest.raises(openai.APIError, match="engine overloaded"):
        list(glm.openai().chat.completions.create(model="chatglm_std", messages=HI, stream=True))
