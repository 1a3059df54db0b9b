"""The Xunfei Spark adaptor as pure translation: URL signing vector, versions and domains, frames (reference §7)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.xunfei import (
    XunfeiAdaptor,
    XunfeiStream,
    endpoint,
    request_frame,
    sign_url,
    socket_base,
    version_of,
)
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = XunfeiAdaptor()
SECRET, KEY = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi", "addd2272b6d8b7c8abdd79531420ca3b"
DATE = "Fri, 05 May 2023 10:43:39 GMT"
VECTOR_AUTHORIZATION = (
    "YXBpX2tleT0iYWRkZDIyNzJiNmQ4YjdjOGFiZGQ3OTUzMTQyMGNhM2IiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2IiwgaGVhZGVycz0iaG9zdCBk"
    "YXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iejVnSGR1M3B4VlY0QURNeWs0Njd3T1dEUTlxNkJRelIzbmZNVGpjL0RhUT0i")


def target(model: str = "Spark-Lite", base_url: str = "", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 18, "key": f"12345|{SECRET}|{KEY}", "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(18), model)


def chat(**body: Any) -> Call:
    payload = {"model": "Spark-Lite", "messages": [{"role": "user", "content": "你是谁"}], **body}
    return parse_json(Mode.CHAT, orjson.dumps(payload))


def chunks(translator: XunfeiStream, *frames: dict[str, Any]) -> list[dict[str, Any]]:
    out = [piece for frame in frames for piece in translator.feed(json.dumps(frame, ensure_ascii=False).encode())]
    return [json.loads(piece.removeprefix(b"data: ")) for piece in out]


def test_signature_vector() -> None:
    url = sign_url("wss://spark-api.xf-yun.com/v1.1/chat", KEY, SECRET, DATE)
    assert url == ("wss://spark-api.xf-yun.com/v1.1/chat?authorization=" + VECTOR_AUTHORIZATION
                   + "&date=Fri%2C+05+May+2023+10%3A43%3A39+GMT&host=spark-api.xf-yun.com")


def test_signature_uses_the_host_actually_dialled() -> None:
    url = sign_url("ws://127.0.0.1:8123/v3.5/chat", KEY, SECRET, DATE)
    query = parse_qs(urlsplit(url).query)
    assert query["host"] == ["127.0.0.1:8123"]
    assert url != sign_url("wss://spark-api.xf-yun.com/v3.5/chat", KEY, SECRET, DATE).replace(
        "wss://spark-api.xf-yun.com", "ws://127.0.0.1:8123")


@pytest.mark.parametrize("model,config,path,domain", [
    ("Spark-Lite", {}, "/v1.1/chat", "lite"),
    ("Spark-Pro", {}, "/v3.1/chat", "generalv3"),
    ("Spark-Pro-128K", {}, "/chat/pro-128k", "pro-128k"),
    ("Spark-Max", {}, "/v3.5/chat", "generalv3.5"),
    ("Spark-Max-32K", {}, "/chat/max-32k", "max-32k"),
    ("Spark-4.0-Ultra", {}, "/v4.0/chat", "4.0Ultra"),
    ("SparkDesk-v3.1", {}, "/v3.1/chat", "generalv3"),
    ("SparkDesk", {"api_version": "v2.1"}, "/v2.1/chat", "generalv2"),
    ("my-spark", {}, "/v1.1/chat", "lite"),
    ("my-spark", {"api_version": "v9.9"}, "/v9.9/chat", "generalv9.9"),
])
def test_versions_and_domains(model: str, config: dict[str, str], path: str, domain: str) -> None:
    assert endpoint(version_of(model, config)) == (path, domain)


def test_request_is_a_signed_socket_with_one_frame() -> None:
    request = ADAPTOR.request(chat(stream=True), target("Spark-Max"))
    assert request.transport == "websocket" and request.stream and len(request.frames) == 1
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("wss", "spark-api.xf-yun.com", "/v3.5/chat")
    assert set(parse_qs(parts.query)) == {"authorization", "date", "host"}
    assert json.loads(request.frames[0])["parameter"]["chat"]["domain"] == "generalv3.5"
    local = ADAPTOR.request(chat(), target(base_url="http://127.0.0.1:9000/"))
    assert local.url.startswith("ws://127.0.0.1:9000/v1.1/chat?") and "host=127.0.0.1%3A9000" in local.url
    assert socket_base("https://proxy.example/spark") == "wss://proxy.example/spark"


def test_request_frame() -> None:
    tools = [{"type": "function", "function": {"name": "天气查询", "parameters": {"type": "object"}}}]
    messages = [{"role": "developer", "content": "你现在扮演李白"}, {"role": "user", "content": [
        {"type": "text", "text": "你是谁"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": "....."}, {"role": "tool", "tool_call_id": "c", "content": "晴"}]
    frame = request_frame(chat(messages=messages, temperature=0, top_k=9, max_tokens=1024, tools=tools, user="u" * 40),
                          "12345", "generalv3.5")
    assert frame == {
        "header": {"app_id": "12345", "uid": "u" * 32},
        "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.01, "top_k": 6, "max_tokens": 1024}},
        "payload": {"message": {"text": [{"role": "system", "content": "你现在扮演李白"},
                                         {"role": "user", "content": "你是谁"},
                                         {"role": "assistant", "content": "....."},
                                         {"role": "user", "content": "晴"}]},
                    "functions": {"text": [tools[0]["function"]]}},
    }
    lite = request_frame(with_system_prompt(chat(tools=tools), "be brief"), "12345", "lite")
    assert "functions" not in lite["payload"]
    assert lite["payload"]["message"]["text"][0] == {"role": "system", "content": "be brief"}


def test_bad_key_and_other_modes() -> None:
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.request(chat(), target(key="only-one-part"))
    assert caught.value.retryable
    embed = parse_json(Mode.EMBEDDINGS, b'{"model":"Spark-Lite","input":"hi"}')
    with pytest.raises(UpstreamError):
        ADAPTOR.request(embed, target())


RECORDED = [
    {"header": {"code": 0, "message": "Success", "sid": "cht000b702a@dx18d6fb9d758b894540", "status": 0},
     "payload": {"choices": {"status": 0, "seq": 0, "text": [{"content": "您", "role": "assistant", "index": 0}]}}},
    {"header": {"code": 0, "message": "Success", "sid": "cht000b702a@dx18d6fb9d758b894540", "status": 1},
     "payload": {"choices": {"status": 1, "seq": 1, "text": [{"content": "可以通过以下", "role": "assistant",
                                                              "index": 0}]}}},
    {"header": {"code": 0, "message": "Success", "sid": "cht000cb087@dx18793cd421fb894542", "status": 2},
     "payload": {"choices": {"status": 2, "seq": 0, "text": [{"content": "我可以帮助你的吗？", "role": "assistant",
                                                              "index": 0}]},
                 "usage": {"text": {"question_tokens": 4, "prompt_tokens": 5, "completion_tokens": 9,
                                    "total_tokens": 14}}}},
]


def test_recorded_frames() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    out = chunks(translator, {"header": {"code": 0, "status": 0}, "payload": {"plugins": {"text": []}}}, *RECORDED)
    assert [c["choices"][0]["delta"].get("content") for c in out] == ["您", "可以通过以下", "我可以帮助你的吗？", None]
    assert out[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in out] == [None, None, None, "stop"]
    assert translator.state.usage == Usage(5, 9) and translator.state.finished
    assert translator.close(None) == [b"data: [DONE]\n\n"]


def test_recorded_function_call() -> None:
    frame = {"header": {"code": 0, "message": "Success", "sid": "cht000b41d5@dx18b851e6931b894550", "status": 2},
             "payload": {"choices": {"status": 2, "seq": 0, "text": [
                 {"content": "", "role": "assistant", "content_type": "text", "index": 0,
                  "function_call": {"arguments": "{\"datetime\":\"今天\",\"location\":\"合肥\"}",
                                    "name": "天气查询"}}]},
                 "usage": {"text": {"question_tokens": 3, "prompt_tokens": 3, "completion_tokens": 0,
                                    "total_tokens": 3}}}}
    translator = ADAPTOR.translator(chat(stream=True), target("Spark-Max"))
    out = chunks(translator, frame)
    first = out[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["id"].startswith("call_") and first["function"] == {"name": "天气查询", "arguments": ""}
    assert out[1]["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "function": {"arguments": "{\"datetime\":\"今天\",\"location\":\"合肥\"}"}}]
    assert out[2]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.state.usage == Usage(3, 0)


@pytest.mark.parametrize("code,status,retryable", [
    (11200, 401, True), (10313, 401, True), (11201, 429, True), (11202, 429, True), (11203, 429, True),
    (10013, 400, False), (10014, 400, False), (10907, 400, False), (10163, 400, False), (10110, 500, True),
])
def test_error_frames(code: int, status: int, retryable: bool) -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    assert translator.feed(orjson.dumps({"header": {"code": code, "message": "no", "sid": "s", "status": 2}})) == []
    error = translator.state.error
    assert error is not None and (error.status_code, error.retryable) == (status, retryable)
    if code in (10013, 10014):
        assert error.code == "content_filter"


def test_error_after_output_is_in_band() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    chunks(translator, RECORDED[0])
    out = chunks(translator, {"header": {"code": 10014, "message": "output moderation", "sid": "s", "status": 2}})
    assert out == [{"error": {"message": "content filtered by Xunfei Spark: output moderation",
                              "type": "invalid_request_error", "param": None, "code": "content_filter"}}]


def test_refused_handshake() -> None:
    error = ADAPTOR.error(401, b'{"message":"HMAC signature does not match"}')
    assert error.status_code == 401 and "signature" in error.message
    assert ADAPTOR.error(200, b'{"header":{"code":11200,"message":"licc failed"}}').status_code == 401
