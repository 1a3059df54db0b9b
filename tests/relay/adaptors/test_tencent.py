"""The Tencent Hunyuan adaptor as pure translation: TC3 signing, PascalCase bodies, official answers and streams."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from tests.relay.adaptors.sse_frames import frames
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.tencent import TencentAdaptor
from tollway.relay.adaptors.tencent_sign import authorization, canonical_request, signature
from tollway.relay.calls import Call, Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = TencentAdaptor()
NOTE = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记"


def target(model: str = "hunyuan-pro", *, key: str = "1250000000|AKIDtest|secret-key", base_url: str = "",
           config: dict[str, Any] | None = None) -> Target:
    channel = ChannelEntry(id=4, type=23, key=key, status=1, name="t", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={}, config=config or {}, system_prompt="")
    return Target(channel, channel_types.get(23), model)


def chat(**body: Any) -> Call:
    return parse_json(Mode.CHAT, json.dumps({"model": "hunyuan-pro", "messages": [{"role": "user", "content": "hi"}],
                                             **body}).encode())


def test_tc3_official_vector() -> None:
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    assert hashlib.sha256(payload).hexdigest() == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    canonical, signed = canonical_request(method="POST", payload=payload, headers={
        "Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"})
    assert signed == "content-type;host"
    assert hashlib.sha256(canonical.encode()).hexdigest() == \
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    sig, scope = signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", service="cvm", timestamp=1551113065,
                           canonical=canonical)
    assert (sig, scope) == ("72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
                            "2019-02-25/cvm/tc3_request")


def test_request_is_signed_over_what_is_sent() -> None:
    request = ADAPTOR.request(chat(), target(base_url="http://127.0.0.1:8123", config={"region": "ap-guangzhou"}))
    headers = request.headers
    assert request.url == "http://127.0.0.1:8123/" and request.method == "POST"
    assert headers["Host"] == "127.0.0.1:8123" and headers["X-TC-Action"] == "ChatCompletions"
    assert headers["X-TC-Version"] == "2023-09-01" and headers["X-TC-Region"] == "ap-guangzhou"
    found = re.fullmatch(r"TC3-HMAC-SHA256 Credential=AKIDtest/(\d{4}-\d\d-\d\d)/hunyuan/tc3_request, "
                         r"SignedHeaders=content-type;host;x-tc-action, Signature=([0-9a-f]{64})",
                         headers["Authorization"])
    assert found
    signed = {name: headers[name] for name in ("Content-Type", "Host", "X-TC-Action")}
    expected = authorization("AKIDtest", "secret-key", service="hunyuan", timestamp=int(headers["X-TC-Timestamp"]),
                             headers=signed, payload=request.content)
    assert headers["Authorization"] == expected
    assert "x-tc-action:chatcompletions\n" in canonical_request(method="POST", headers=signed,
                                                                payload=request.content)[0]


def test_default_host_and_two_part_key() -> None:
    request = ADAPTOR.request(chat(), target(key="AKIDtest|secret-key"))
    assert request.url == "https://hunyuan.tencentcloudapi.com/"
    assert request.headers["Host"] == "hunyuan.tencentcloudapi.com"
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.request(chat(), target(key="just-one"))
    assert failure.value.status_code == 401


def test_body_is_pascal_case() -> None:
    call = chat(messages=[
        {"role": "user", "content": "北京天气"},
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"c\":1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"t\":25}"},
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]},
    ], temperature=0.5, top_p=1, stream=True,
        tools=[{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                  "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    body = json.loads(ADAPTOR.request(call, target()).content)
    assert body["Model"] == "hunyuan-pro" and body["Stream"] is True
    assert (body["Temperature"], body["TopP"]) == (0.5, 1.0)
    assert body["Messages"] == [
        {"Role": "system", "Content": "be brief"},
        {"Role": "user", "Content": "北京天气"},
        {"Role": "assistant", "Content": "", "ToolCalls": [
            {"Id": "call_1", "Type": "function", "Function": {"Name": "get_weather", "Arguments": "{\"c\":1}"}}]},
        {"Role": "tool", "Content": "{\"t\":25}", "ToolCallId": "call_1"},
        {"Role": "user", "Contents": [{"Type": "text", "Text": "what is this?"},
                                      {"Type": "image_url", "ImageUrl": {"Url": "https://x/cat.png"}}]},
    ]
    tool = {"Type": "function", "Function": {"Name": "get_weather", "Description": "weather",
                                             "Parameters": "{\"type\":\"object\"}"}}
    assert body["Tools"] == [tool] and body["ToolChoice"] == "custom" and body["CustomTool"] == tool


def test_consecutive_user_messages_are_merged() -> None:
    call = chat(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert json.loads(ADAPTOR.request(call, target()).content)["Messages"] == [{"Role": "user", "Content": "a\nb"}]


def test_official_example_6_tool_call_answer() -> None:
    body = json.dumps({"Response": {
        "RequestId": "e7f5ce41-87fd-4977-803c-54cded687cd9", "Note": NOTE,
        "Choices": [{"Message": {"Role": "assistant",
                                 "Content": "使用get_current_weather工具来获取北京和深圳的当前天气情况。",
                                 "ToolCalls": [{"Type": "function", "Function": {
                                     "Name": "get_current_weather",
                                     "Arguments": "{\"location\":[\"北京\",\"深圳\"],\"unit\":\"celsius\"}"}}]},
                     "FinishReason": "tool_calls"}],
        "Created": 1719638614, "Usage": {"PromptTokens": 6, "CompletionTokens": 46, "TotalTokens": 52}}},
        ensure_ascii=False).encode()
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["id"] == "e7f5ce41-87fd-4977-803c-54cded687cd9" and data["created"] == 1719638614
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"] == {"name": "get_current_weather",
                                "arguments": "{\"location\":[\"北京\",\"深圳\"],\"unit\":\"celsius\"}"}
    assert data["usage"] == {"prompt_tokens": 6, "completion_tokens": 46, "total_tokens": 52}


def test_plain_answer() -> None:
    body = json.dumps({"Response": {"Note": NOTE, "Id": "e4657570", "Created": 1710902312, "RequestId": "r",
                                    "Choices": [{"FinishReason": "stop", "Message": {
                                        "Role": "assistant", "Content": "你好！很高兴为您提供帮助。"}}],
                                    "Usage": {"PromptTokens": 3, "CompletionTokens": 14, "TotalTokens": 17}}},
                      ensure_ascii=False).encode()
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["id"] == "e4657570" and data["choices"][0]["message"]["content"] == "你好！很高兴为您提供帮助。"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 14)


def _chunk(content: str, finish: str, completion: int, **delta: Any) -> bytes:
    chunk = {"Note": NOTE, "Choices": [{"FinishReason": finish, "Delta": {"Role": "assistant", "Content": content,
                                                                          **delta}}],
             "Created": 1700549760, "Id": "148b89ef-14e1-489f-8e70-b767e5b27d56",
             "Usage": {"PromptTokens": 4, "CompletionTokens": completion, "TotalTokens": 4 + completion}}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()


def test_official_example_4_stream() -> None:
    raw = b"".join([_chunk("1", "", 2), _chunk("+", "", 3), _chunk("1", "", 4), _chunk("=", "", 5),
                    _chunk("2", "", 5), _chunk("", "stop", 5)])
    call = chat(stream=True, stream_options={"include_usage": True})
    stream = ADAPTOR.translator(call, target())
    out: list[bytes] = []
    for start in range(0, len(raw), 11):
        out += stream.feed(raw[start:start + 11])
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4, 5)
    events = frames(out + stream.close(usage))
    chunks = [e for e in events[:-1] if e["choices"]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "1+1=2"
    assert chunks[0]["id"] == "148b89ef-14e1-489f-8e70-b767e5b27d56" and chunks[0]["object"] == "chat.completion.chunk"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert events[-2]["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}
    assert events[-1] == "[DONE]"


def test_official_example_7_tool_call_stream() -> None:
    call_id = "call_cq154vk2c3m1v7ep3530"
    raw = b"".join([
        _chunk("", "", 0, ToolCalls=[{"Id": call_id, "Type": "function",
                                      "Function": {"Name": "get_current_weather", "Arguments": ""}}]),
        _chunk("", "", 0, ToolCalls=[{"Id": call_id, "Type": "function",
                                      "Function": {"Name": "", "Arguments": "{\"location\":\"北京\"}"}}]),
        _chunk("计划使用get_current_weather工具。", "", 46),
        _chunk("", "tool_calls", 46),
    ])
    stream = ADAPTOR.translator(chat(stream=True), target())
    events = frames(stream.feed(raw))
    deltas = [e["choices"][0]["delta"] for e in events]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls == [{"index": 0, "id": call_id, "type": "function",
                      "function": {"name": "get_current_weather", "arguments": ""}},
                     {"index": 0, "function": {"arguments": "{\"location\":\"北京\"}"}}]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_answered_with_an_error_body() -> None:
    body = (b'{"Response":{"RequestId":"188cc996-ab09-49a7-aa9f-1df88f11c6b4","Error":{"Code":"InvalidParameter",'
            b'"Message":"Temperature must be 2 or less"}}}')
    error = ADAPTOR.error(502, body)
    assert (error.status_code, error.code, error.message) == (400, "InvalidParameter", "Temperature must be 2 or less")
    stream = ADAPTOR.translator(chat(stream=True), target())
    assert stream.feed(body + b"\n") == [] and stream.state.error is not None


def test_stream_error_mid_way() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    assert stream.feed(_chunk("1", "", 1))
    out = stream.feed(b'data: {"ErrorMsg":{"Code":"FailedOperation.EngineServerLimitExceeded","Msg":"busy"}}\n\n')
    assert frames(out)[0]["error"]["message"] == "busy"
    assert stream.state.error is not None and stream.state.error.status_code == 429


@pytest.mark.parametrize("code,status", [
    ("AuthFailure.SignatureFailure", 401), ("AuthFailure.SecretIdNotFound", 401), ("AuthFailure.SignatureExpire", 401),
    ("LimitExceeded", 429), ("RequestLimitExceeded", 429), ("InvalidParameter", 400),
    ("InvalidParameterValue.Model", 400), ("FailedOperation.ServiceNotActivated", 403),
    ("ResourceInsufficient.ChargeResourceExhaust", 403), ("InternalError", 500),
])
def test_error_codes_with_http_200(code: str, status: int) -> None:
    body = json.dumps({"Response": {"RequestId": "r", "Error": {"Code": code, "Message": "m"}}}).encode()
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    assert (failure.value.status_code, failure.value.code) == (status, code)
    assert failure.value.retryable is (status != 400)


def test_embeddings() -> None:
    call = parse_json(Mode.EMBEDDINGS, b'{"model":"hunyuan-embedding","input":["a","b"]}')
    request = ADAPTOR.request(call, target("hunyuan-embedding"))
    assert request.headers["X-TC-Action"] == "GetEmbedding" and not request.stream
    assert json.loads(request.content) == {"InputList": ["a", "b"]}
    body = (b'{"Response":{"Data":[{"Embedding":[0.5,1.0],"Index":0,"Object":"embedding"},'
            b'{"Embedding":[0.25,0.0],"Index":1,"Object":"embedding"}],'
            b'"Usage":{"PromptTokens":6,"TotalTokens":6},"RequestId":"r"}}')
    answer = ADAPTOR.answer(call, target("hunyuan-embedding"), 200, "application/json", body)
    data = json.loads(answer.content)
    assert [item["embedding"] for item in data["data"]] == [[0.5, 1.0], [0.25, 0.0]]
    assert data["usage"] == {"prompt_tokens": 6, "total_tokens": 6}


def test_unsupported_routes() -> None:
    call = parse_json(Mode.IMAGES, b'{"model":"hunyuan-pro","prompt":"x"}')
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.request(call, target())
    assert failure.value.status_code == 400 and failure.value.retryable
