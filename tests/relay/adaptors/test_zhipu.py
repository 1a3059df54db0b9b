"""The Zhipu GLM adaptor as pure translation: the JWT vector, v4 and v3 bodies, answers and streams."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.relay.adaptors.sse_frames import frames
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.zhipu import ZhipuAdaptor, jwt
from tollway.relay.adaptors.zhipu_v3 import unquote
from tollway.relay.calls import Call, Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = ZhipuAdaptor()
VECTOR = ("eyJhbGciOiJIUzI1NiIsInNpZ25fdHlwZSI6IlNJR04ifQ.eyJhcGlfa2V5IjoiYWJjMTIzIiwiZXhwIjoxNzAwMDAzNjAwMDAwLCJ0aW1l"
          "c3RhbXAiOjE3MDAwMDAwMDAwMDB9.pO8SvMLfLJtHTJgKp6nAesNDaIY0roQi_iOTnI4VAOc")


def target(model: str = "glm-4", *, key: str = "abc123.s3cr3t", base_url: str = "") -> Target:
    channel = ChannelEntry(id=3, type=16, key=key, status=1, name="z", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={}, config={}, system_prompt="")
    return Target(channel, channel_types.get(16), model)


def chat(model: str = "glm-4", **body: Any) -> Call:
    return parse_json(Mode.CHAT, json.dumps({"model": model, "messages": [{"role": "user", "content": "你好"}],
                                             **body}).encode())


def test_jwt_matches_the_reference_vector() -> None:
    assert jwt("abc123.s3cr3t", now_ms=1_700_000_000_000, lifetime_ms=3_600_000) == VECTOR


def test_jwt_is_signed_with_the_secret_and_times_are_milliseconds() -> None:
    token = jwt("abc123.s3cr3t", now_ms=1_700_000_000_000)
    head, payload, signature = token.split(".")
    expected = hmac.new(b"s3cr3t", f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == expected
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims == {"api_key": "abc123", "exp": 1_700_003_600_000, "timestamp": 1_700_000_000_000}


def test_key_must_be_id_dot_secret() -> None:
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.request(chat(), target(key="no-dot"))
    assert failure.value.status_code == 401


@pytest.mark.parametrize("model,stream,path", [
    ("glm-4", False, "/api/paas/v4/chat/completions"),
    ("glm-4-flash", True, "/api/paas/v4/chat/completions"),
    ("chatglm_turbo", False, "/api/paas/v3/model-api/chatglm_turbo/invoke"),
    ("chatglm_std", True, "/api/paas/v3/model-api/chatglm_std/sse-invoke"),
])
def test_chat_urls(model: str, stream: bool, path: str) -> None:
    request = ADAPTOR.request(chat(model, stream=stream), target(model, base_url="http://127.0.0.1:5/"))
    assert request.url == "http://127.0.0.1:5" + path and request.stream is stream
    assert request.headers["Authorization"].count(".") == 2


def test_v4_body_is_openai_with_zhipus_ranges() -> None:
    call = chat(temperature=1.7, top_p=1, stream=True, stream_options={"include_usage": True},
                tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    body = json.loads(ADAPTOR.request(call, target("glm-4-plus")).content)
    assert body["model"] == "glm-4-plus" and body["temperature"] == 1.0 and body["top_p"] == 0.99
    assert "stream_options" not in body and body["tools"][0]["function"]["name"] == "f"
    assert json.loads(ADAPTOR.request(chat(top_p=0), target()).content)["top_p"] == 0.01


def test_v3_body() -> None:
    call = chat("chatglm_pro", messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                temperature=0.95, stream=True)
    body = json.loads(ADAPTOR.request(call, target("chatglm_pro")).content)
    assert body == {"prompt": [{"role": "user", "content": "hi"}], "temperature": 0.95, "incremental": True}


def test_v4_whole_answer_recorded_gets_object() -> None:
    body = ('{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"……","role":"assistant"}}],'
            '"created":1711434535,"id":"8512982659489624459","model":"glm-4","request_id":"8512982659489624459",'
            '"usage":{"completion_tokens":445,"prompt_tokens":61,"total_tokens":506}}').encode()
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["object"] == "chat.completion" and data["choices"][0]["message"]["content"] == "……"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (61, 445)
    assert answer.text == "……"


V4_STREAM = (
    b'data: {"id":"8439641316893948328","created":1709453054,"model":"glm-4","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"\xe4\xbd\xa0\xe5\xa5\xbd"}}]}\n\n'
    b'data: {"id":"8439641316893948328","created":1709453054,"model":"glm-4","choices":[{"index":0,'
    b'"finish_reason":"stop","delta":{"role":"assistant","content":""}}],'
    b'"usage":{"prompt_tokens":10,"completion_tokens":72,"total_tokens":82}}\n\n'
    b"data: [DONE]\n\n"
)


def test_v4_stream_recorded() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    events = frames(stream.feed(V4_STREAM) + stream.close(None))
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    assert events[0]["choices"][0]["delta"]["content"] == "你好"
    assert events[1]["choices"][0]["finish_reason"] == "stop" and events[-1] == "[DONE]"
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 72)


def test_v4_stream_tool_call_is_split_into_name_and_arguments() -> None:
    call = {"id": "call_1", "index": 0, "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"北京\"}"}}
    chunk = {"id": "1", "created": 1, "model": "glm-4",
             "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]}
    stream = ADAPTOR.translator(chat(stream=True), target())
    events = frames(stream.feed(f"data: {json.dumps(chunk)}\n\n".encode()))
    first, second = (e["choices"][0]["delta"]["tool_calls"][0] for e in events)
    assert first == {**call, "function": {"name": "get_weather", "arguments": ""}}
    assert second == {"index": 0, "function": {"arguments": "{\"city\":\"北京\"}"}}
    assert all(e["object"] == "chat.completion.chunk" for e in events)


def test_v4_stream_error_event() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    stream.feed(V4_STREAM.split(b"\n\n")[0] + b"\n\n")
    out = stream.feed(b'data: {"error":{"code":"1302","message":"rate limited"}}\n\n')
    assert frames(out)[0]["error"]["code"] == "1302"
    assert stream.state.error is not None and stream.state.error.status_code == 429


def test_v3_whole_answer_recorded_is_unquoted() -> None:
    body = ('{"code":200,"msg":"操作成功","success":true,"data":{"request_id":"7865480399259975113",'
            '"task_id":"7865480399259975113","task_status":"SUCCESS",'
            '"choices":[{"content":"\\" Kubernetes is ...\\"","role":"assistant"}],"usage":{"total_tokens":203}}}'
            ).encode()
    answer = ADAPTOR.answer(chat("chatglm_std"), target("chatglm_std"), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["choices"][0]["message"]["content"] == " Kubernetes is ..."
    assert data["id"] == "7865480399259975113"
    # Only a total: no split to trust, so the gateway counts locally.
    assert answer.usage is None and answer.text == " Kubernetes is ..."


def test_unquote_decodes_escapes() -> None:
    assert unquote('"line one\\nline two"') == "line one\nline two"
    assert unquote('"broken \\x"') == "broken \\x"
    assert unquote("plain") == "plain"


V3_STREAM = (
    "event:add\nid:7951544019094669224\ndata:你好\n\n"
    "event:add\nid:7951544019094669224\ndata:first line\ndata:second line\n\n"
    "event:add\nid:7951544019094669224\ndata: 和支持\n\n"
    "event:finish\nid:7951544019094669224\ndata:\n"
    'meta:{"task_status":"SUCCESS","usage":{"completion_tokens":59,"prompt_tokens":0,"total_tokens":59},'
    '"task_id":"7951544019094669224","request_id":"7951544019094669224"}\n\n'
).encode()


@pytest.mark.parametrize("piece", [len(V3_STREAM), 5])
def test_v3_stream_recorded(piece: int) -> None:
    call = chat("chatglm_std", stream=True)
    stream = ADAPTOR.translator(call, target("chatglm_std"))
    out: list[bytes] = []
    for start in range(0, len(V3_STREAM), piece):
        out += stream.feed(V3_STREAM[start:start + piece])
    events = frames(out + stream.close(None))
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "你好first line\nsecond line 和支持"
    assert events[0]["id"] == "7951544019094669224" and events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-1] == "[DONE]"
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (0, 59)


def test_v3_stream_error_event() -> None:
    stream = ADAPTOR.translator(chat("chatglm_std", stream=True), target("chatglm_std"))
    assert stream.feed(b"event:error\nid:1\ndata:model overloaded\n\n") == []
    assert stream.state.error is not None and stream.state.error.message == "model overloaded"


@pytest.mark.parametrize("body,status,expected,retryable", [
    (b'{"error":{"code":"1002","message":"Authorization Token\xe9\x9d\x9e\xe6\xb3\x95"}}', 401, 401, True),
    (b'{"error":{"code":"1113","message":"arrears"}}', 429, 403, True),
    (b'{"error":{"code":"1214","message":"bad parameter"}}', 400, 400, False),
    (b'{"error":{"code":"1302","message":"too many"}}', 429, 429, True),
    (b'{"error":{"code":"1234","message":"network"}}', 500, 500, True),
    (b'{"code":1261,"msg":"prompt too long","success":false}', 502, 400, False),
    (b'not json', 503, 503, True),
])
def test_errors(body: bytes, status: int, expected: int, retryable: bool) -> None:
    error = ADAPTOR.error(status, body)
    assert (error.status_code, error.retryable) == (expected, retryable)


def test_v3_failure_with_http_200() -> None:
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.answer(chat("chatglm_lite"), target("chatglm_lite"), 200, "application/json",
                       b'{"code":1002,"msg":"token invalid","success":false}')
    assert failure.value.status_code == 401 and failure.value.message == "token invalid"


def test_embeddings_single_and_many_inputs() -> None:
    one = parse_json(Mode.EMBEDDINGS, b'{"model":"embedding-3","input":["only"],"dimensions":256}')
    request = ADAPTOR.request(one, target("embedding-3"))
    assert request.url.endswith("/api/paas/v4/embeddings")
    assert json.loads(request.content) == {"model": "embedding-3", "input": "only", "dimensions": 256}
    many = parse_json(Mode.EMBEDDINGS, b'{"model":"embedding-3","input":["a","b"]}')
    assert json.loads(ADAPTOR.request(many, target("embedding-3")).content)["input"] == ["a", "b"]
    body = (b'{"model":"embedding-3","object":"list","data":[{"index":0,"object":"embedding","embedding":[0.5]}],'
            b'"usage":{"prompt_tokens":4,"completion_tokens":0,"total_tokens":4}}')
    answer = ADAPTOR.answer(one, target("embedding-3"), 200, "application/json", body)
    assert json.loads(answer.content)["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5]}]
    assert answer.usage is not None and answer.usage.prompt_tokens == 4


def test_images() -> None:
    call = parse_json(Mode.IMAGES, b'{"model":"cogview-3","prompt":"a cat","user":"u"}')
    request = ADAPTOR.request(call, target("cogview-3"))
    assert request.url.endswith("/api/paas/v4/images/generations")
    assert json.loads(request.content) == {"model": "cogview-3", "prompt": "a cat", "size": "1024x1024",
                                           "user_id": "u"}
    answer = ADAPTOR.answer(call, target("cogview-3"), 200, "application/json",
                            b'{"created":1,"data":[{"url":"https://x/1.png"}]}')
    assert json.loads(answer.content) == {"created": 1, "data": [{"url": "https://x/1.png"}]}
    with pytest.raises(UpstreamError, match="one image"):
        ADAPTOR.request(parse_json(Mode.IMAGES, b'{"model":"cogview-3","prompt":"x","n":2}'), target("cogview-3"))
