"""The Baidu ERNIE adaptor as pure translation, on the reference's recorded answers and streams."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.relay.adaptors.sse_frames import frames
from tollway.errors import UpstreamError
from tollway.relay.adaptors.baidu import BaiduAdaptor, BaiduStream, error_for
from tollway.relay.adaptors.base import Target
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = BaiduAdaptor()


def target(model: str = "ERNIE-4.0-8K", *, key: str = "ak|sk", base_url: str = "", system_prompt: str = "",
           credential: str = "tok") -> Target:
    channel = ChannelEntry(id=7, type=15, key=key, status=1, name="b", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={}, config={}, system_prompt=system_prompt)
    return Target(channel, channel_types.get(15), model, credential)


def chat(**body: Any) -> Call:
    return parse_json(Mode.CHAT, json.dumps({"model": "ERNIE-4.0-8K", "messages": [{"role": "user", "content": "hi"}],
                                             **body}).encode())


@pytest.mark.parametrize("model,endpoint", [
    ("ERNIE-4.0-8K", "chat/completions_pro"),
    ("ERNIE-3.5-8K", "chat/completions"),
    ("ERNIE-Speed-8K", "chat/ernie_speed"),
    ("ERNIE-Speed-128K", "chat/ernie-speed-128k"),
    ("ERNIE-Lite-8K-0308", "chat/ernie-lite-8k"),
    ("ERNIE-Tiny-8K", "chat/ernie-tiny-8k"),
    ("ERNIE-Bot-turbo", "chat/eb-instant"),
    ("ERNIE-4.0-Turbo-8K", "chat/ernie-4.0-turbo-8k"),
])
def test_chat_endpoints_follow_one_apis_table(model: str, endpoint: str) -> None:
    request = ADAPTOR.request(chat(), target(model))
    assert request.url == f"https://aip.baidubce.com/rpc/2.0/ai_custom/v1/wenxinworkshop/{endpoint}?access_token=tok"


@pytest.mark.parametrize("model,endpoint", [("Embedding-V1", "embedding-v1"), ("bge-large-zh", "bge_large_zh"),
                                            ("bge-large-en", "bge_large_en"), ("tao-8k", "tao_8k")])
def test_embedding_endpoints(model: str, endpoint: str) -> None:
    call = parse_json(Mode.EMBEDDINGS, json.dumps({"model": model, "input": "hello"}).encode())
    request = ADAPTOR.request(call, target(model, base_url="http://127.0.0.1:9/"))
    assert request.url == f"http://127.0.0.1:9/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/{endpoint}?access_token=tok"
    assert json.loads(request.content) == {"input": ["hello"]}


def test_credential_exchange_request_and_cache_key() -> None:
    exchange = ADAPTOR.credential(target(key="my-ak|my/sk", base_url="http://127.0.0.1:9"))
    url = urlsplit(exchange.request.url)
    assert (url.netloc, url.path, exchange.request.method) == ("127.0.0.1:9", "/oauth/2.0/token", "POST")
    assert parse_qs(url.query) == {"grant_type": ["client_credentials"], "client_id": ["my-ak"],
                                   "client_secret": ["my/sk"]}
    assert exchange.key.startswith("baidu:7:")
    # Another key of the same channel gets another token.
    assert ADAPTOR.credential(target(key="other|sk")).key != exchange.key


def test_credential_answers_are_read() -> None:
    read = ADAPTOR.credential(target()).read
    body = (b'{"refresh_token":"25.x","expires_in":2592000,"session_key":"s",'
            b'"access_token":"24.6a024ba0cf6c1fd210fb1d2e7251b.2592000.1694918387.282335-37780661","scope":"public"}')
    assert read(200, body) == ("24.6a024ba0cf6c1fd210fb1d2e7251b.2592000.1694918387.282335-37780661", 2592000.0)
    with pytest.raises(UpstreamError) as failure:
        read(401, b'{"error":"invalid_client","error_description":"unknown client id"}')
    assert failure.value.status_code == 401 and failure.value.retryable
    assert "unknown client id" in failure.value.message


def test_a_key_without_secret_is_refused() -> None:
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.credential(target(key="only-one-part"))
    assert failure.value.status_code == 401 and "APIKey|SecretKey" in failure.value.message


def test_system_goes_top_level_and_turns_alternate() -> None:
    call = chat(messages=[
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": "greeting nobody asked for"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "assistant", "content": "really"},
        {"role": "user", "content": "three"},
    ], temperature=0, top_p=1.5, frequency_penalty=1.0, max_tokens=100, user="u1", stream=True)
    body = json.loads(ADAPTOR.request(call, target()).content)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "one\ntwo"}, {"role": "assistant", "content": "ok\nreally"},
                                {"role": "user", "content": "three"}]
    assert body["temperature"] == 0.01 and body["top_p"] == 1.0 and body["penalty_score"] == 1.5
    assert (body["max_output_tokens"], body["user_id"], body["stream"]) == (100, "u1", True)


def test_channel_system_prompt_replaces_the_clients() -> None:
    call = chat(messages=[{"role": "system", "content": "client"}, {"role": "user", "content": "hi"}])
    request = ADAPTOR.request(with_system_prompt(call, "operator"), target())
    assert json.loads(request.content)["system"] == "operator"


def test_tools_become_functions_and_tool_results_function_turns() -> None:
    call = chat(
        messages=[{"role": "user", "content": "weather?"},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                        "arguments": "{\"city\":\"北京\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":25}"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "description": "weather of a city",
                                                  "parameters": {"type": "object"}}}])
    body = json.loads(ADAPTOR.request(call, target()).content)
    assert body["functions"] == [{"name": "get_weather", "description": "weather of a city",
                                  "parameters": {"type": "object"}}]
    assert body["messages"][1] == {"role": "assistant", "content": "",
                                   "function_call": {"name": "get_weather", "arguments": "{\"city\":\"北京\"}"}}
    assert body["messages"][2] == {"role": "function", "name": "get_weather", "content": "{\"temp\":25}"}


def test_whole_answer_recorded() -> None:
    body = ('{"id":"as-1j42wp3555","object":"chat.completion","created":1712937294,'
            '"result":"你好，有什么我可以帮助你的吗？",'
            '"is_truncated":false,"need_clear_history":false,"usage":{"prompt_tokens":1,"completion_tokens":8,'
            '"total_tokens":9}}').encode()
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["id"] == "as-1j42wp3555" and data["object"] == "chat.completion" and data["created"] == 1712937294
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "你好，有什么我可以帮助你的吗？"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 1, "completion_tokens": 8, "total_tokens": 9}
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1, 8)


def test_function_call_answer_becomes_tool_calls() -> None:
    body = json.dumps({"id": "as-f", "object": "chat.completion", "created": 1, "result": "",
                       "finish_reason": "function_call",
                       "function_call": {"name": "get_weather", "thoughts": "...", "arguments": "{\"city\":\"北京\"}"},
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}).encode()
    data = json.loads(ADAPTOR.answer(chat(), target(), 200, "application/json", body).content)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": "{\"city\":\"北京\"}"}


@pytest.mark.parametrize("code,status,retryable", [
    (110, 401, True), (111, 401, True), (17, 429, True), (18, 429, True), (336501, 429, True),
    (336003, 400, False), (336007, 400, False), (336100, 503, True), (6, 403, True), (12345, 500, True),
])
def test_error_codes_with_http_200(code: int, status: int, retryable: bool) -> None:
    body = json.dumps({"error_code": code, "error_msg": "some message"}).encode()
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    assert (failure.value.status_code, failure.value.retryable, failure.value.code) == (status, retryable, str(code))
    # The same body answering a stream request arrives through error().
    error = ADAPTOR.error(502, body)
    assert (error.status_code, error.message) == (status, "some message")
    assert error_for(code, "").message == f"Baidu error {code}"


RECORDED_STREAM = (
    'data: {"id":"as-hu9m9cwazm","object":"chat.completion","created":1691127967,"sentence_id":0,"is_end":false,'
    '"is_truncated":false,"result":"当然可以！","need_clear_history":false,'
    '"usage":{"prompt_tokens":14,"completion_tokens":4,"total_tokens":18}}\n\n'
    'data: {"id":"as-hu9m9cwazm","object":"chat.completion","created":1691127968,"sentence_id":1,"is_end":false,'
    '"is_truncated":false,"result":"以下是一个简单的Python函数...","need_clear_history":false,'
    '"usage":{"prompt_tokens":14,"completion_tokens":45,"total_tokens":63}}\n\n'
    'data: {"id":"as-hu9m9cwazm","object":"chat.completion","created":1691127974,"sentence_id":11,"is_end":true,'
    '"is_truncated":false,"result":"","need_clear_history":false,'
    '"usage":{"prompt_tokens":14,"completion_tokens":0,"total_tokens":319}}\n\n'
).encode()


@pytest.mark.parametrize("piece", [len(RECORDED_STREAM), 7, 1])
def test_recorded_stream(piece: int) -> None:
    call = chat(stream=True, stream_options={"include_usage": True})
    stream = ADAPTOR.translator(call, target())
    out: list[bytes] = []
    for start in range(0, len(RECORDED_STREAM), piece):
        out += stream.feed(RECORDED_STREAM[start:start + piece])
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (14, 305)
    events = frames(out + stream.close(usage))
    chunks = [e for e in events if e != "[DONE]"]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "as-hu9m9cwazm" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "当然可以！"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == \
        "当然可以！以下是一个简单的Python函数..."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, None, "stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 305
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    assert "".join(stream.state.text) == "当然可以！以下是一个简单的Python函数..."


def test_stream_first_event_error_is_not_sent() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    assert stream.feed(b'{"error_code":18,"error_msg":"Open api qps request limit reached"}\n') == []
    assert stream.state.error is not None and stream.state.error.status_code == 429


def test_stream_error_mid_way_becomes_an_error_event() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    first = stream.feed(RECORDED_STREAM.split(b"\n\n")[0] + b"\n\n")
    assert len(first) == 1
    out = stream.feed(b'data: {"error_code":336100,"error_msg":"try again later"}\n\n')
    assert frames(out) == [{"error": {"message": "try again later", "type": "baidu_error", "param": None,
                                      "code": "336100"}}]
    assert stream.state.error is not None and stream.state.error.status_code == 503
    assert frames(stream.close(None)) == ["[DONE]"]


def test_stream_function_call() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    data = json.dumps({"id": "as-1", "created": 1, "is_end": True, "result": "", "finish_reason": "function_call",
                       "function_call": {"name": "get_weather", "arguments": "{\"city\":\"北京\"}", "thoughts": "."},
                       "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
    chunks = frames(stream.feed(f"data: {data}\n\n".encode()))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0]["index"] == 0 and calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert calls[1] == {"index": 0, "function": {"arguments": "{\"city\":\"北京\"}"}}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_embeddings_answer_in_floats_and_base64() -> None:
    body = json.dumps({"id": "as-e", "object": "embedding_list", "created": 1,
                       "data": [{"object": "embedding", "embedding": [0.5, -1.0], "index": 0}],
                       "usage": {"prompt_tokens": 3, "total_tokens": 3}}).encode()
    call = parse_json(Mode.EMBEDDINGS, b'{"model":"Embedding-V1","input":["a"]}')
    answer = ADAPTOR.answer(call, target("Embedding-V1"), 200, "application/json", body)
    assert json.loads(answer.content) == {"object": "list", "model": "Embedding-V1",
                                          "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
                                          "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    call = parse_json(Mode.EMBEDDINGS, b'{"model":"Embedding-V1","input":["a"],"encoding_format":"base64"}')
    encoded = json.loads(ADAPTOR.answer(call, target("Embedding-V1"), 200, "", body).content)["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (0.5, -1.0)


def test_other_routes_are_refused_for_another_channel() -> None:
    call = parse_json(Mode.IMAGES, b'{"model":"ERNIE-4.0-8K","prompt":"a cat"}')
    with pytest.raises(UpstreamError) as failure:
        ADAPTOR.request(call, target())
    assert failure.value.status_code == 400 and failure.value.retryable


def test_translator_is_a_baidu_stream() -> None:
    assert isinstance(ADAPTOR.translator(chat(stream=True), target()), BaiduStream)
