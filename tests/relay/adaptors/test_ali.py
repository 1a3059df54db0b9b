"""The DashScope adaptor as pure translation, on the reference's recorded requests, answers and streams (§6)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.ali import AliAdaptor, chat_body, is_vision
from tollway.relay.adaptors.ali_stream import AliStream, ali_error
from tollway.relay.adaptors.base import Target
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = AliAdaptor()


def target(model: str = "qwen-max", base_url: str = "", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 17, "key": "sk-ali", "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(17), model)


def chat(**body: Any) -> Call:
    payload = {"model": "qwen-max", "messages": [{"role": "user", "content": "请问 1+1 是多少？"}], **body}
    return parse_json(Mode.CHAT, orjson.dumps(payload))


def events(translator: AliStream, raw: str) -> list[dict[str, Any]]:
    out = translator.feed(raw.encode())
    return [json.loads(frame.removeprefix(b"data: ")) for frame in out]


# The reference's recorded stream (message format, incremental_output:true), abridged to three chunks.
RECORDED_STREAM = """id:1
event:result
:HTTP_STATUS/200
data:{"output":{"choices":[{"message":{"content":"1","role":"assistant"},"finish_reason":"null"}]},"usage":{"total_tokens":9,"input_tokens":8,"output_tokens":1},"request_id":"d272255f-82d7-9cc7-93c5-17ff77024349"}

id:2
event:result
:HTTP_STATUS/200
data:{"output":{"choices":[{"message":{"content":"+","role":"assistant"},"finish_reason":"null"}]},"usage":{"total_tokens":10,"input_tokens":8,"output_tokens":2},"request_id":"d272255f-82d7-9cc7-93c5-17ff77024349"}

id:10
event:result
:HTTP_STATUS/200
data:{"output":{"choices":[{"message":{"content":"","role":"assistant"},"finish_reason":"stop"}]},"usage":{"total_tokens":48,"input_tokens":8,"output_tokens":40},"request_id":"d272255f-82d7-9cc7-93c5-17ff77024349"}

"""


def test_chat_request_matches_the_recorded_shape() -> None:
    call = chat(seed=1234, max_tokens=1500, top_p=0.8, top_k=100, repetition_penalty=1.1, temperature=0.85,
                stop=["x"], stream=True)
    request = ADAPTOR.request(call, target())
    assert request.url == "https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation"
    assert request.headers["Authorization"] == "Bearer sk-ali"
    assert request.headers["X-DashScope-SSE"] == "enable" and request.headers["Accept"] == "text/event-stream"
    assert request.stream is True
    assert orjson.loads(request.content) == {
        "model": "qwen-max", "input": {"messages": [{"role": "user", "content": "请问 1+1 是多少？"}]},
        "parameters": {"result_format": "message", "seed": 1234, "max_tokens": 1500, "top_p": 0.8, "top_k": 100,
                       "repetition_penalty": 1.1, "temperature": 0.85, "stop": ["x"], "incremental_output": True},
    }


def test_request_quirks() -> None:
    body = chat_body(chat(top_p=1, max_completion_tokens=9), target("qwen-plus-internet"))
    assert body["model"] == "qwen-plus" and body["parameters"]["enable_search"] is True
    assert body["parameters"]["top_p"] == 0.9999 and body["parameters"]["max_tokens"] == 9
    # A channel's system prompt (applied before any adaptor, relay/dialogue.py) reaches DashScope first.
    prompt = chat_body(with_system_prompt(chat(), "be terse"), target())
    assert prompt["input"]["messages"][0] == {"role": "system", "content": "be terse"}
    request = ADAPTOR.request(chat(), target(base_url="http://127.0.0.1:9/", config={"plugin": '{"a":{}}'}))
    assert request.url.startswith("http://127.0.0.1:9/api/v1/")
    assert request.headers["X-DashScope-Plugin"] == '{"a":{}}' and "X-DashScope-SSE" not in request.headers


def test_messages_keep_tools_and_flatten_text_for_text_models() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    body = chat_body(chat(messages=messages, functions=[{"name": "f"}]), target())
    assert body["input"]["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "", "tool_calls": messages[1]["tool_calls"]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    ]
    assert body["parameters"]["tools"] == [{"type": "function", "function": {"name": "f"}}]


def test_vision_models_use_the_multimodal_endpoint() -> None:
    assert is_vision("qwen-vl-max") and is_vision("qwen2.5-vl-72b-instruct") and is_vision("qvq-max")
    assert not is_vision("qwen-max")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    call = chat(model="qwen-vl-plus", messages=[{"role": "user", "content": [{"type": "text", "text": "?"}, image]}])
    request = ADAPTOR.request(call, target("qwen-vl-plus"))
    assert request.url.endswith("/api/v1/services/aigc/multimodal-generation/generation")
    body = orjson.loads(request.content)
    assert body["input"]["messages"] == [{"role": "user", "content": [{"text": "?"},
                                                                      {"image": "data:image/png;base64,AAAA"}]}]
    assert "result_format" not in body["parameters"]


@pytest.mark.parametrize("recorded,content,finish,usage", [
    ({"output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "1+1 等于 2。"}}]},
      "usage": {"total_tokens": 47, "output_tokens": 39, "input_tokens": 8}, "request_id": "e764bfe3"},
     "1+1 等于 2。", "stop", (8, 39, 0)),
    ({"output": {"finish_reason": "stop", "text": "1+1等于2。"},
      "usage": {"prompt_tokens_details": {"cached_tokens": 4}, "total_tokens": 30, "output_tokens": 14,
                "input_tokens": 16}, "request_id": "7e3d5586"},
     "1+1等于2。", "stop", (16, 14, 4)),
    ({"output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant",
                                                                   "content": [{"text": "图中是一只猫"}]}}]},
      "usage": {"output_tokens": 6, "input_tokens": 1200}, "request_id": "vl"},
     "图中是一只猫", "stop", (1200, 6, 0)),
])
def test_whole_answers(recorded: dict[str, Any], content: str, finish: str, usage: tuple[int, int, int]) -> None:
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", orjson.dumps(recorded))
    data = orjson.loads(answer.content)
    assert data["object"] == "chat.completion" and data["id"] == f"chatcmpl-{recorded['request_id']}"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": content}
    assert data["choices"][0]["finish_reason"] == finish
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.cached_tokens) == usage
    assert answer.text == content


def test_whole_tool_call_reports_tool_calls() -> None:
    recorded = {"output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "tool_calls": [
        {"function": {"name": "get_current_weather", "arguments": "{\"location\": \"浙江省杭州市\"}"}, "index": 0,
         "id": "call_cec4c19d27624537b583af", "type": "function"}], "content": ""}}]},
        "usage": {"total_tokens": 219, "output_tokens": 8, "input_tokens": 211}, "request_id": "67300049"}
    data = orjson.loads(ADAPTOR.answer(chat(), target(), 200, "", orjson.dumps(recorded)).content)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_cec4c19d27624537b583af", "type": "function",
         "function": {"name": "get_current_weather", "arguments": "{\"location\": \"浙江省杭州市\"}"}}]}


def test_recorded_stream() -> None:
    translator = AliStream(chat(stream=True), "qwen-max")
    chunks = events(translator, RECORDED_STREAM)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": "1"}, {"content": "+"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "stop"]
    assert {c["id"] for c in chunks} == {"chatcmpl-d272255f-82d7-9cc7-93c5-17ff77024349"}
    assert translator.state.usage == Usage(8, 40) and translator.state.text == ["1", "+"]
    assert translator.close(None) == [b"data: [DONE]\n\n"]


def test_stream_split_anywhere_and_crlf() -> None:
    raw = RECORDED_STREAM.replace("\n", "\r\n").encode()
    translator = AliStream(chat(stream=True), "qwen-max")
    out = []
    for i in range(0, len(raw), 7):
        out.extend(translator.feed(raw[i:i + 7]))
    assert len(out) == 3 and translator.state.finished


def test_usage_chunk_when_asked() -> None:
    translator = AliStream(chat(stream=True, stream_options={"include_usage": True}), "qwen-max")
    events(translator, RECORDED_STREAM)
    tail = translator.close(Usage(8, 40))
    assert json.loads(tail[0].removeprefix(b"data: "))["usage"] == {"prompt_tokens": 8, "completion_tokens": 40,
                                                                     "total_tokens": 48}
    assert tail[1] == b"data: [DONE]\n\n"


def test_cumulative_text_is_diffed() -> None:
    translator = AliStream(chat(stream=True), "qwen-max", incremental=False)
    raw = "".join(f'data:{{"output":{{"finish_reason":"{f}","text":"{t}"}},"request_id":"r"}}\n\n'
                  for t, f in [("我是", "null"), ("我是阿里", "null"), ("我是阿里云", "null"), ("我是阿里云", "stop")])
    chunks = events(translator, raw)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["我是", "阿里", "云", None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_recorded_tool_call_fragments() -> None:
    first = {"index": 0, "id": "call_29a870e7106f45deb8add3", "type": "function",
             "function": {"name": "get_current_weather", "arguments": "{\"location\": \""}}
    later = {"index": 0, "id": "", "type": "function", "function": {"arguments": "浙江省杭州市\"}"}}
    raw = "".join("data:" + json.dumps({"output": {"choices": [{"message": {"content": "", "tool_calls": [call],
                                                                            "role": "assistant"},
                                                                "index": 0, "finish_reason": finish}]},
                                        "usage": {"total_tokens": 266, "output_tokens": 16, "input_tokens": 250},
                                        "request_id": "98b76af4"}) + "\n\n"
                  for call, finish in [(first, "null"), (later, "null")])
    raw += 'data:{"output":{"choices":[{"message":{"content":"","role":"assistant"},"finish_reason":"stop"}]}}\n\n'
    translator = AliStream(chat(stream=True), "qwen-plus")
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in events(translator, raw)]
    assert deltas == [
        ({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_29a870e7106f45deb8add3", "type": "function",
                                               "function": {"name": "get_current_weather", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\": \""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "浙江省杭州市\"}"}}]}, None),
        ({}, "tool_calls"),
    ]


def test_parallel_tool_calls_keep_their_indexes() -> None:
    calls = [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}},
             {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]
    raw = "data:" + json.dumps({"output": {"choices": [{"message": {"tool_calls": calls},
                                                        "finish_reason": "stop"}]}}) + "\n\n"
    chunks = events(AliStream(chat(stream=True), "qwen-plus"), raw)
    starts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "id" in
              (c["choices"][0]["delta"].get("tool_calls") or [{}])[0]]
    assert [(s["index"], s["id"], s["function"]["name"]) for s in starts] == [(0, "a", "f"), (1, "b", "g")]


RECORDED_STREAM_ERROR = (
    'id:1\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"InvalidParameter","message":"Role must be user or '
    'assistant and Content length must be greater than 0","request_id":"7671ecd8-93cc-9ee9-bc89-739f0fd8b809"}\n\n'
)


def test_recorded_stream_error_before_output() -> None:
    translator = AliStream(chat(stream=True), "qwen-max")
    assert translator.feed(RECORDED_STREAM_ERROR.encode()) == []
    error = translator.state.error
    assert error is not None and error.status_code == 400 and error.code == "InvalidParameter"
    assert not error.retryable and "Role must be user" in error.message


def test_stream_error_after_output_is_in_band() -> None:
    translator = AliStream(chat(stream=True), "qwen-max")
    first = RECORDED_STREAM.split("\n\n")[0] + "\n\n"
    events(translator, first)
    late = RECORDED_STREAM_ERROR.replace("400", "429").replace("InvalidParameter", "Throttling.RateQuota")
    out = events(translator, late)
    assert out[0]["error"]["code"] == "Throttling.RateQuota"
    assert translator.state.error is not None and translator.state.error.status_code == 429
    assert events(translator, RECORDED_STREAM) == []  # nothing after the error


@pytest.mark.parametrize("status,code,message,expected,retryable", [
    (401, "InvalidApiKey", "Invalid API-key provided.", 401, True),
    (429, "Throttling.RateQuota", "Requests rate limit exceeded", 429, True),
    (400, "Throttling.AllocationQuota", "quota", 429, True),
    (400, "InvalidParameter", "bad", 400, False),
    (400, "InvalidParameter", "Model not exist.", 404, True),
    (400, "DataInspectionFailed", "Input data may contain inappropriate content.", 400, False),
    (400, "Arrearage", "Access denied, please make sure your account is in good standing.", 403, True),
    (403, "AccessDenied.Unpurchased", "not purchased", 403, True),
    (500, "InternalError.Algo", "oops", 500, True),
    (418, "SomethingNew", "?", 418, False),
])
def test_error_codes(status: int, code: str, message: str, expected: int, retryable: bool) -> None:
    error = ali_error(status, code, message)
    assert (error.status_code, error.retryable) == (expected, retryable)
    if code == "DataInspectionFailed":
        assert error.code == "content_filter"


def test_whole_error_bodies() -> None:
    body = b'{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"a1c0561c"}'
    error = ADAPTOR.error(401, body)
    assert (error.status_code, error.code, error.message) == (401, "InvalidApiKey", "Invalid API-key provided.")
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.answer(chat(), target(), 200, "application/json", b'{"code":"Throttling","message":"slow down"}')
    assert caught.value.status_code == 429
    assert ADAPTOR.error(502, b"<html>bad gateway</html>").status_code == 502


def test_embeddings() -> None:
    call = parse_json(Mode.EMBEDDINGS, '{"model":"text-embedding-v2","input":"代码","dimensions":8}'.encode())
    request = ADAPTOR.request(call, target("text-embedding-v2"))
    assert request.url.endswith("/api/v1/services/embeddings/text-embedding/text-embedding")
    assert orjson.loads(request.content) == {"model": "text-embedding-v2", "input": {"texts": ["代码"]},
                                             "parameters": {"dimension": 8}}
    recorded = {"output": {"embeddings": [{"embedding": [-0.00503, 0.5], "text_index": 0}]},
                "usage": {"total_tokens": 3}, "request_id": "1773f7b2"}
    answer = ADAPTOR.answer(call, target("text-embedding-v2"), 200, "application/json", orjson.dumps(recorded))
    assert orjson.loads(answer.content) == {
        "object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [-0.00503, 0.5]}],
        "model": "text-embedding-v2", "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    assert answer.usage == Usage(3, 0)
    tokens = parse_json(Mode.EMBEDDINGS, b'{"model":"text-embedding-v2","input":[[1,2,3]]}')
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(tokens, target("text-embedding-v2"))


def test_image_task_flow() -> None:
    body = {"model": "ali-stable-diffusion-xl", "prompt": "一只奔跑的猫", "n": 4, "size": "1024x1024", "seed": 42}
    call = parse_json(Mode.IMAGES, orjson.dumps(body))
    request = ADAPTOR.request(call, target("ali-stable-diffusion-xl"))
    assert request.headers["X-DashScope-Async"] == "enable"
    assert orjson.loads(request.content) == {"model": "stable-diffusion-xl", "input": {"prompt": "一只奔跑的猫"},
                                             "parameters": {"size": "1024*1024", "n": 4, "seed": 42}}
    pending = b'{"output":{"task_status":"PENDING","task_id":"9e2b6ef6"},"request_id":"r"}'
    answer = ADAPTOR.answer(call, target(), 200, "application/json", pending)
    assert answer.follow is not None and answer.follow.method == "GET"
    assert answer.follow.url == "https://dashscope.aliyuncs.com/api/v1/tasks/9e2b6ef6" and answer.wait > 0
    done = {"output": {"task_id": "9e2b6ef6", "task_status": "SUCCEEDED", "results": [
        {"url": "https://dashscope-result/1.png"}, {"code": "DataInspectionFailed", "message": "x"}],
        "task_metrics": {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}}, "usage": {"image_count": 1}}
    final = ADAPTOR.answer(call, target(), 200, "application/json", orjson.dumps(done))
    assert final.follow is None and orjson.loads(final.content)["data"] == [{"url": "https://dashscope-result/1.png"}]
    failed = b'{"output":{"task_id":"t","task_status":"FAILED","code":"InvalidParameter","message":"bad size"}}'
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.answer(call, target(), 200, "application/json", failed)
    assert caught.value.status_code == 400 and "bad size" in caught.value.message


def test_unsupported_modes_fail_over() -> None:
    call = parse_json(Mode.COMPLETIONS, b'{"model":"qwen-max","prompt":"hi"}')
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.request(call, target())
    assert caught.value.retryable
