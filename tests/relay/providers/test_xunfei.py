"""Xunfei Spark (WebSocket, channel type 18) through Tollway with the official openai SDK and a mock Spark server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.xunfei_mock import APP_ID, KEY, XunfeiMock

HI = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "你是谁"}]
TOOLS = [{"type": "function", "function": {"name": "天气查询", "description": "查询天气", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
MODELS = "Spark-Lite,Spark-Pro,Spark-Pro-128K,Spark-Max,Spark-Max-32K,Spark-4.0-Ultra"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[XunfeiMock, str]]:
    mock = XunfeiMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def spark_server(upstream: tuple[XunfeiMock, str]) -> XunfeiMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture(scope="module")
def spark(upstream: tuple[XunfeiMock, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One Tollway for the module: starting one per test would cost more than the tests."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("xunfei"), GLOBAL_API_RATE_LIMIT=0))
    # An http:// base URL (the only kind the channel form takes) is dialled as ws://.
    gateway.add_channel(upstream[1], type=18, key=KEY, models=MODELS)
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


def test_stream_text_usage_and_request_frame(spark: Gateway, spark_server: XunfeiMock) -> None:
    last = _last_log_id(spark)
    chunks = list(spark.openai().chat.completions.create(
        model="Spark-Lite", messages=HI, stream=True, temperature=1.5, max_tokens=256, user="u-1",
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "您好，我是讯飞星火。"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (5, 4)
    seen = spark_server.seen[-1]
    assert seen.path == "/v1.1/chat"
    assert seen.frame == {
        "header": {"app_id": APP_ID, "uid": "u-1"},
        "parameter": {"chat": {"domain": "lite", "temperature": 1.0, "max_tokens": 256}},
        "payload": {"message": {"text": HI}},
    }
    log = _log_after(spark, last)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (5, 4)


def test_whole_answer_is_assembled_from_frames(spark: Gateway, spark_server: XunfeiMock) -> None:
    spark_server.plan("generalv3.5", plugins=True)
    answer = spark.openai().chat.completions.create(model="Spark-Max", messages=HI)
    assert answer.choices[0].message.content == "您好，我是讯飞星火。"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens == 9
    assert spark_server.seen[-1].path == "/v3.5/chat"


@pytest.mark.parametrize("model,path,domain", [
    ("Spark-Pro", "/v3.1/chat", "generalv3"),
    ("Spark-Pro-128K", "/chat/pro-128k", "pro-128k"),
    ("Spark-Max-32K", "/chat/max-32k", "max-32k"),
    ("Spark-4.0-Ultra", "/v4.0/chat", "4.0Ultra"),
])
def test_model_picks_url_and_domain(spark: Gateway, spark_server: XunfeiMock, model: str, path: str,
                                    domain: str) -> None:
    spark.openai().chat.completions.create(model=model, messages=HI)
    seen = spark_server.seen[-1]
    assert (seen.path, seen.frame["parameter"]["chat"]["domain"]) == (path, domain)


def test_channel_api_version_for_other_names(spark: Gateway, spark_server: XunfeiMock,
                                             upstream: tuple[XunfeiMock, str]) -> None:
    spark.add_channel(upstream[1], type=18, key=KEY, models="SparkDesk", config={"api_version": "v3.5"})
    spark.openai().chat.completions.create(model="SparkDesk", messages=HI)
    assert spark_server.seen[-1].path == "/v3.5/chat"


def test_stream_is_relayed_incrementally(spark: Gateway, spark_server: XunfeiMock) -> None:
    gate = threading.Event()
    spark_server.plan("lite", gate=gate)
    received = []
    for chunk in spark.openai().chat.completions.create(model="Spark-Lite", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            # Were Tollway buffering, this first frame could not arrive before the gate opens.
            gate.set()
    assert "".join(received) == "您好，我是讯飞星火。"


def test_function_call_becomes_tool_call(spark: Gateway, spark_server: XunfeiMock) -> None:
    spark_server.plan("4.0Ultra", function_call=True)
    chunks = list(spark.openai().chat.completions.create(model="Spark-4.0-Ultra", messages=HI, tools=TOOLS,
                                                         stream=True))
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert calls[0].id and calls[0].id.startswith("call_") and calls[0].function is not None
    assert (calls[0].index, calls[0].type, calls[0].function.name, calls[0].function.arguments) == (
        0, "function", "天气查询", "")
    assert calls[1].function is not None and calls[1].function.arguments == '{"datetime":"今天","location":"合肥"}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert spark_server.seen[-1].frame["payload"]["functions"] == {"text": [TOOLS[0]["function"]]}
    whole = spark.openai().chat.completions.create(model="Spark-4.0-Ultra", messages=HI, tools=TOOLS)
    assert whole.choices[0].finish_reason == "tool_calls" and whole.choices[0].message.tool_calls is not None
    assert whole.choices[0].message.tool_calls[0].function.name == "天气查询"


def test_functions_only_for_domains_that_take_them(spark: Gateway, spark_server: XunfeiMock) -> None:
    spark.openai().chat.completions.create(model="Spark-Lite", messages=HI, tools=TOOLS)
    assert "functions" not in spark_server.seen[-1].frame["payload"]


@pytest.mark.parametrize("code,error,openai_code", [
    (10013, openai.BadRequestError, "content_filter"),
    (10907, openai.BadRequestError, "10907"),
    (11200, openai.AuthenticationError, "11200"),
    (11202, openai.RateLimitError, "11202"),
])
def test_error_frames(spark: Gateway, spark_server: XunfeiMock, code: int, error: type[openai.APIStatusError],
                      openai_code: str) -> None:
    spark_server.plan("lite", error=(code, "spark says no"))
    with pytest.raises(error) as caught:
        list(spark.openai().chat.completions.create(model="Spark-Lite", messages=HI, stream=True))
    assert caught.value.code == openai_code
    with pytest.raises(error):
        spark.openai().chat.completions.create(model="Spark-Lite", messages=HI)


def test_error_frame_mid_stream_is_in_band(spark: Gateway, spark_server: XunfeiMock) -> None:
    spark_server.plan("lite", error_after=2)
    received = []
    with pytest.raises(openai.APIError, match="moderation"):
        for chunk in spark.openai().chat.completions.create(model="Spark-Lite", messages=HI, stream=True):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == "您好，我是"


def test_bad_signature_refuses_the_upgrade(spark: Gateway, spark_server: XunfeiMock,
                                           upstream: tuple[XunfeiMock, str]) -> None:
    spark.add_channel(upstream[1], type=18, key=f"{APP_ID}|wrong-secret|{KEY.split('|')[2]}", models="bad-secret")
    with pytest.raises(openai.AuthenticationError, match="signature does not match"):
        spark.openai().chat.completions.create(model="bad-secret", messages=HI)
    assert spark_server.seen == []


def test_stale_date_is_refused(spark: Gateway, spark_server: XunfeiMock) -> None:
    spark_server.now = time.time() + 3600
    with pytest.raises(openai.PermissionDeniedError, match="date"):
        spark.openai().chat.completions.create(model="Spark-Lite", messages=HI)


def test_wrong_app_id(spark: Gateway, spark_server: XunfeiMock, upstream: tuple[XunfeiMock, str]) -> None:
    spark.add_channel(upstream[1], type=18, key="999|" + KEY.split("|", 1)[1], models="bad-app")
    with pytest.raises(openai.AuthenticationError):
        spark.openai().chat.completions.create(model="bad-app", messages=HI)


def test_only_chat_is_served(spark: Gateway) -> None:
    with pytest.raises(openai.BadRequestError, match="does not support"):
        spark.openai().embeddings.create(model="Spark-Lite", input="hi")
