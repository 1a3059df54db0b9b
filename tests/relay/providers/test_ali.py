"""Alibaba Qwen (DashScope native, channel type 17) through Tollway, with the openai SDK and a mock DashScope."""

from __future__ import annotations

import base64
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.ali_mock import KEY, AliMock
from tollway.relay.adaptors import ali

HI = [{"role": "user", "content": "请问 1+1 是多少？"}]
TOOLS = [{"type": "function", "function": {"name": "get_current_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {
                                               "location": {"type": "string"}}}}}]
MODELS = "qwen-max,qwen-plus,qwen-turbo-internet,qwen-vl-max,text-embedding-v3,wanx-v1"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[AliMock, str]]:
    mock = AliMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def dashscope(upstream: tuple[AliMock, str]) -> AliMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture(scope="module")
def qwen(upstream: tuple[AliMock, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One Tollway for the module: starting one per test would cost more than the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ali, "POLL_INTERVAL", 0.01)
        gateway = Gateway(settings_for(tmp_path_factory.mktemp("ali"), GLOBAL_API_RATE_LIMIT=0))
        gateway.add_channel(upstream[1], type=17, key=KEY, models=MODELS, config={"plugin": "{\"pdf_extracter\":{}}"})
        yield gateway
        gateway.close()


def _last_log_id(gateway: Gateway) -> int:
    gateway.flush()
    logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return int(logs[0]["id"]) if logs else 0


def _log_after(gateway: Gateway, last_id: int) -> dict[str, Any]:
    """The newest consume log once one newer than `last_id` is written (settlement may trail a broken stream)."""
    for _ in range(500):
        gateway.flush()
        logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
        if logs and int(logs[0]["id"]) > last_id:
            return logs[0]
        time.sleep(0.01)
    raise AssertionError("no consume log was written")


def test_whole_answer_usage_and_request(qwen: Gateway, dashscope: AliMock) -> None:
    last = _last_log_id(qwen)
    answer = qwen.openai().chat.completions.create(model="qwen-max", messages=HI, top_p=1.0,
                                                   max_tokens=100, temperature=0.7, seed=3)
    assert answer.choices[0].message.content == "1+1 等于 2。"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (8, 5)
    sent = dashscope.requests[-1]
    assert sent.path == "/api/v1/services/aigc/text-generation/generation"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-dashscope-plugin"] == "{\"pdf_extracter\":{}}"
    assert "x-dashscope-sse" not in sent.headers
    assert sent.json["input"]["messages"] == HI
    assert sent.json["parameters"] == {"incremental_output": False, "result_format": "message", "top_p": 0.9999,
                                       "max_tokens": 100, "temperature": 0.7, "seed": 3}
    log = _log_after(qwen, last)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (8, 5)


def test_internet_suffix_enables_search(qwen: Gateway, dashscope: AliMock) -> None:
    qwen.openai().chat.completions.create(model="qwen-turbo-internet", messages=HI)
    sent = dashscope.requests[-1].json
    assert sent["model"] == "qwen-turbo" and sent["parameters"]["enable_search"] is True


def test_stream_text_and_usage(qwen: Gateway, dashscope: AliMock) -> None:
    chunks = list(qwen.openai().chat.completions.create(model="qwen-max", messages=HI, stream=True,
                                                        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "1+1 等于 2。"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (8, 5)
    sent = dashscope.requests[-1]
    assert sent.headers["x-dashscope-sse"] == "enable" and sent.json["parameters"]["incremental_output"] is True


def test_stream_is_relayed_incrementally(qwen: Gateway, dashscope: AliMock) -> None:
    gate = threading.Event()
    dashscope.plan("qwen-max", gate=gate)
    received = []
    for chunk in qwen.openai().chat.completions.create(model="qwen-max", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            # Were Tollway buffering, this first piece could not arrive before the gate opens.
            gate.set()
    assert "".join(received) == "1+1 等于 2。"


def test_stream_tool_call_fragments_are_assembled(qwen: Gateway, dashscope: AliMock) -> None:
    dashscope.plan("qwen-plus", tool_call=True)
    chunks = list(qwen.openai().chat.completions.create(model="qwen-plus", messages=HI, tools=TOOLS,
                                                        stream=True))
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    first = calls[0]
    assert (first.index, first.id, first.type) == (0, "call_29a870e7106f45deb8add3", "function")
    assert first.function is not None and (first.function.name, first.function.arguments) == (
        "get_current_weather", "")
    # Later fragments carry only arguments (DashScope's blank ids are not passed on).
    assert all(call.id is None and call.function is not None and call.function.name is None for call in calls[1:])
    assert "".join(call.function.arguments or "" for call in calls if call.function) == '{"location": "浙江省杭州市"}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert dashscope.requests[-1].json["parameters"]["tools"] == TOOLS


def test_whole_tool_call(qwen: Gateway, dashscope: AliMock) -> None:
    dashscope.plan("qwen-plus", tool_call=True)
    answer = qwen.openai().chat.completions.create(model="qwen-plus", messages=HI, tools=TOOLS)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "call_cec4c19d27624537b583af" and call.function.arguments == '{"location": "浙江省杭州市"}'


def test_vision_goes_to_the_multimodal_endpoint(qwen: Gateway, dashscope: AliMock) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                             {"type": "image_url", "image_url": {"url": image}},
                                             {"type": "image_url", "image_url": {"url": "https://img.example/a.png"}}]}]
    answer = qwen.openai().chat.completions.create(model="qwen-vl-max", messages=messages)
    assert answer.choices[0].message.content == "1+1 等于 2。"
    sent = dashscope.requests[-1]
    assert sent.path == "/api/v1/services/aigc/multimodal-generation/generation"
    assert sent.json["input"]["messages"] == [
        {"role": "system", "content": [{"text": "be brief"}]},
        {"role": "user", "content": [{"text": "what is this?"}, {"image": image}, {"image": "https://img.example/a.png"}]},
    ]
    stream = qwen.openai().chat.completions.create(model="qwen-vl-max", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "1+1 等于 2。"


def test_embeddings_floats_and_base64(qwen: Gateway, dashscope: AliMock) -> None:
    last = _last_log_id(qwen)
    floats = qwen.openai().embeddings.create(model="text-embedding-v3", input=["代码改变世界", "hi"],
                                            encoding_format="float", dimensions=512)
    assert [item.embedding for item in floats.data] == [[0.25, -0.5, 0.0], [0.25, -0.5, 0.125]]
    assert floats.usage.prompt_tokens == 8 and floats.usage.total_tokens == 8
    sent = dashscope.requests[-1]
    assert sent.json == {"model": "text-embedding-v3", "input": {"texts": ["代码改变世界", "hi"]},
                         "parameters": {"dimension": 512}}
    # The SDK asks for base64 by default and decodes it; Tollway encodes DashScope's floats as OpenAI does.
    decoded = qwen.openai().embeddings.create(model="text-embedding-v3", input="hi")
    assert decoded.data[0].embedding == [0.25, -0.5, 0.0]
    # The newest log is the second call's: DashScope counted 2 tokens for "hi".
    assert _log_after(qwen, last)["prompt_tokens"] == 2


def test_embeddings_base64_wire_format(qwen: Gateway) -> None:
    import httpx

    response = httpx.post(qwen.url + "/v1/embeddings", headers={"Authorization": "Bearer sk-" + "R" * 48},
                          json={"model": "text-embedding-v3", "input": "hi", "encoding_format": "base64"})
    vector = base64.b64decode(response.json()["data"][0]["embedding"])
    assert struct.unpack("<3f", vector) == (0.25, -0.5, 0.0)


def test_image_task_is_polled(qwen: Gateway, dashscope: AliMock) -> None:
    images = qwen.openai().images.generate(model="wanx-v1", prompt="一只奔跑的猫", n=2, size="1024x1024")
    assert images.data is not None and len(images.data) == 2
    assert all((image.url or "").startswith("https://dashscope-result.example/") for image in images.data)
    submit = next(r for r in dashscope.requests if r.method == "POST")
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.json == {"model": "wanx-v1", "input": {"prompt": "一只奔跑的猫"},
                           "parameters": {"size": "1024*1024", "n": 2}}
    polls = [r for r in dashscope.requests if r.method == "GET"]
    assert len(polls) == 3 and polls[0].headers["authorization"] == f"Bearer {KEY}"


def test_failed_image_task(qwen: Gateway, dashscope: AliMock) -> None:
    dashscope.plan("wanx-v1", polls=1,
                   task_error=("DataInspectionFailed", "Input data may contain inappropriate content."))
    with pytest.raises(openai.BadRequestError) as caught:
        qwen.openai().images.generate(model="wanx-v1", prompt="…")
    assert caught.value.code == "content_filter"


def test_whole_answer_errors(qwen: Gateway, dashscope: AliMock, upstream: tuple[AliMock, str]) -> None:
    dashscope.plan("qwen-max", error=(400, "InvalidParameter", "Role must be user or assistant"))
    with pytest.raises(openai.BadRequestError, match="Role must be user or assistant") as bad:
        qwen.openai().chat.completions.create(model="qwen-max", messages=HI)
    assert bad.value.code == "InvalidParameter"
    qwen.add_channel(upstream[1], type=17, key="sk-wrong", models="qwen-turbo")
    with pytest.raises(openai.AuthenticationError, match="Invalid API-key"):
        qwen.openai().chat.completions.create(model="qwen-turbo", messages=HI)


@pytest.mark.parametrize("status,code,error", [
    (400, "InvalidParameter", openai.BadRequestError),
    (400, "DataInspectionFailed", openai.BadRequestError),
    (429, "Throttling.RateQuota", openai.RateLimitError),
    (401, "InvalidApiKey", openai.AuthenticationError),
])
def test_stream_error_sent_with_200(qwen: Gateway, dashscope: AliMock, status: int, code: str,
                                    error: type[Exception]) -> None:
    dashscope.plan("qwen-max", error=(status, code, f"{code} happened"))
    with pytest.raises(error):
        list(qwen.openai().chat.completions.create(model="qwen-max", messages=HI, stream=True))


def test_stream_error_mid_stream_is_in_band(qwen: Gateway, dashscope: AliMock) -> None:
    dashscope.plan("qwen-max", error_after=2)
    last = _last_log_id(qwen)
    received = []
    with pytest.raises(openai.APIError, match="internal error"):
        for chunk in qwen.openai().chat.completions.create(model="qwen-max", messages=HI, stream=True):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == "1+1"
    assert _log_after(qwen, last)["completion_tokens"] == 2
