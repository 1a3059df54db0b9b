"""The Ollama adaptor as pure translation: /api/chat bodies, whole answers, NDJSON streams, embeddings, errors.

Payloads are the recorded examples of the reference (§10, ollama docs/api.md) unless said otherwise.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.ollama import OllamaAdaptor
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = OllamaAdaptor()
HI = [{"role": "user", "content": "hi"}]


def target(model: str = "llama3.2", base_url: str = "", key: str = "", **extra: object) -> Target:
    fields: dict[str, object] = {
        "id": 1, "type": 30, "key": key, "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(30), model)


def call(mode: Mode = Mode.CHAT, **body: Any) -> Call:
    if mode is Mode.CHAT:
        body.setdefault("messages", HI)
    return parse_json(mode, json.dumps({"model": "llama3.2", **body}).encode())


def sent(request_call: Call, tgt: Target | None = None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(ADAPTOR.request(request_call, tgt or target()).content)
    return body


def events(pieces: list[bytes]) -> list[Any]:
    """The SSE events of translator output, parsed ("[DONE]" stays a string)."""
    result: list[Any] = []
    for block in b"".join(pieces).split(b"\n\n"):
        if block:
            assert block.startswith(b"data: ")
            payload = block.removeprefix(b"data: ")
            result.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return result


# -- requests -------------------------------------------------------------------------------------------------


def test_chat_url_headers_and_explicit_stream_flag() -> None:
    request = ADAPTOR.request(call(), target(base_url="http://gpu-box:11434/", key="secret"))
    assert request.url == "http://gpu-box:11434/api/chat"
    assert request.headers["Authorization"] == "Bearer secret"
    assert not request.stream
    # Ollama streams unless told not to, so false is sent explicitly.
    assert json.loads(request.content)["stream"] is False
    streamed = ADAPTOR.request(call(stream=True), target())
    assert streamed.stream and json.loads(streamed.content)["stream"] is True
    assert streamed.url == "http://localhost:11434/api/chat"
    assert "Authorization" not in streamed.headers  # no key, no header


def test_options_are_mapped() -> None:
    body = sent(call(temperature=0.2, top_p=0.9, seed=7, max_tokens=64, frequency_penalty=0.5,
                     presence_penalty=0.1, stop="END", num_ctx=8192, top_k=40))
    assert body["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_predict": 64,
                               "frequency_penalty": 0.5, "presence_penalty": 0.1, "stop": ["END"],
                               "num_ctx": 8192, "top_k": 40}
    assert "options" not in sent(call())
    assert sent(call(max_completion_tokens=9, stop=["a", "b"]))["options"] == {"num_predict": 9, "stop": ["a", "b"]}


def test_images_become_raw_base64() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]
    body = sent(call(messages=[{"role": "user", "content": content}]))
    assert body["messages"] == [{"role": "user", "content": "what is this?", "images": [png]}]


def test_image_urls_that_were_not_inlined_are_refused() -> None:
    content = [{"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(call(messages=[{"role": "user", "content": content}]), target())


def test_tools_and_tool_turns() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather in Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    body = sent(call(messages=messages, tools=tools))
    assert body["tools"] == tools
    assert body["messages"][2]["tool_calls"] == [
        {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}]
    assert body["messages"][3] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}
    assert "tools" not in sent(call(messages=messages, tools=tools, tool_choice="none"))


def test_formats_thinking_and_channel_system_prompt() -> None:
    assert sent(call(response_format={"type": "json_object"}))["format"] == "json"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = sent(call(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
    assert body["format"] == schema
    assert sent(call(reasoning_effort="high"))["think"] == "high"
    assert sent(call(reasoning_effort="none"))["think"] is False
    request = ADAPTOR.request(with_system_prompt(call(), "You are Tollway."), target())
    assert json.loads(request.content)["messages"][0] == {"role": "system", "content": "You are Tollway."}


def test_embeddings_and_completions_requests() -> None:
    request = ADAPTOR.request(call(Mode.EMBEDDINGS, model="all-minilm", input="a"), target("all-minilm"))
    assert request.url.endswith("/api/embed") and not request.stream
    assert json.loads(request.content) == {"model": "all-minilm", "input": ["a"]}
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(call(Mode.EMBEDDINGS, input=[[1, 2, 3]]), target())
    generate = ADAPTOR.request(call(Mode.COMPLETIONS, prompt="Once", max_tokens=5, stream=True), target())
    assert generate.url.endswith("/api/generate") and generate.stream
    assert json.loads(generate.content) == {"model": "llama3.2", "stream": True, "prompt": "Once",
                                            "options": {"num_predict": 5}}


def test_other_modes_go_elsewhere() -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.request(call(Mode.IMAGES, prompt="a cat"), target())
    assert raised.value.status_code == 400 and raised.value.retryable


# -- whole answers --------------------------------------------------------------------------------------------

WHOLE = (b'{"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z","message":{"role":"assistant",'
         b'"content":"Hello! How are you today?"},"done":true,"done_reason":"stop","total_duration":5191566416,'
         b'"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":298,'
         b'"eval_duration":4799921000}')


def test_whole_answer() -> None:
    answer = ADAPTOR.answer(call(), target(), 200, "application/json; charset=utf-8", WHOLE)
    data = json.loads(answer.content)
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Hello! How are you today?"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 26, "completion_tokens": 298, "total_tokens": 324}
    assert answer.usage == Usage(26, 298)


def test_whole_answer_with_tool_call_thinking_and_length() -> None:
    body = (b'{"model":"qwen3","message":{"role":"assistant","content":"","thinking":"Let me check.",'
            b'"tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},'
            b'"done":true,"done_reason":"stop","eval_count":20}')
    answer = ADAPTOR.answer(call(), target(), 200, "application/json", body)
    choice = json.loads(answer.content)["choices"][0]
    tool = choice["message"]["tool_calls"][0]
    assert tool["id"].startswith("call_") and tool["type"] == "function"
    assert tool["function"] == {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}
    assert choice["message"]["content"] is None and choice["message"]["reasoning_content"] == "Let me check."
    assert choice["finish_reason"] == "tool_calls"
    # No prompt_eval_count (a prompt-cache hit): the prompt stays 0 for the pipeline to count.
    assert answer.usage == Usage(0, 20)
    cut = ADAPTOR.answer(call(), target(), 200, "application/json",
                         b'{"message":{"content":"abc"},"done":true,"done_reason":"length"}')
    assert json.loads(cut.content)["choices"][0]["finish_reason"] == "length" and cut.usage is None


def test_error_bodies() -> None:
    error = ADAPTOR.error(404, b'{"error":"model \\"nope\\" not found, try pulling it first"}')
    assert error.status_code == 404 and error.retryable and "try pulling it" in error.message
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.answer(call(), target(), 200, "application/json", b'{"error":"the model failed to generate"}')
    assert raised.value.status_code == 500 and raised.value.message == "the model failed to generate"


def test_embeddings_answer() -> None:
    body = (b'{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862],[-0.0098027075,0.06042711]],'
            b'"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}')
    answer = ADAPTOR.answer(call(Mode.EMBEDDINGS, input=["a", "b"]), target("all-minilm"), 200, "application/json",
                            body)
    data = json.loads(answer.content)
    assert [item["index"] for item in data["data"]] == [0, 1]
    assert data["data"][1]["embedding"] == [-0.0098027075, 0.06042711]
    assert data["usage"] == {"prompt_tokens": 8, "total_tokens": 8} and answer.usage == Usage(8)
    packed = ADAPTOR.answer(call(Mode.EMBEDDINGS, input="a", encoding_format="base64"), target(), 200, "",
                            b'{"embeddings":[[0.5,-1.0]]}')
    raw = base64.b64decode(json.loads(packed.content)["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0) and packed.usage is None


def test_completion_answer_from_generate() -> None:
    body = b'{"model":"llama3.2","response":"upon a time","done":true,"done_reason":"stop","prompt_eval_count":3,' \
           b'"eval_count":4}'
    data = json.loads(ADAPTOR.answer(call(Mode.COMPLETIONS, prompt="Once"), target(), 200, "", body).content)
    assert data["object"] == "text_completion" and data["choices"][0]["text"] == "upon a time"


# -- streams --------------------------------------------------------------------------------------------------

STREAM = (
    b'{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant",'
    b'"content":"The","images":null},"done":false}\n'
    b'{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant",'
    b'"content":" sky"},"done":false}\n'
    b'{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},'
    b'"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,'
    b'"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}\n'
)


def test_stream_split_anywhere() -> None:
    for size in (1, 13, len(STREAM)):
        streaming = call(stream=True, stream_options={"include_usage": True})
        stream = ADAPTOR.translator(streaming, target())
        pieces = [p for i in range(0, len(STREAM), size) for p in stream.feed(STREAM[i:i + size])]
        assert stream.state.usage == Usage(26, 282) and stream.state.finished
        found = events(pieces + stream.close(stream.state.usage))
        assert [e["choices"][0]["delta"] for e in found[:3]] == [
            {"role": "assistant", "content": "The"}, {"content": " sky"}, {}]
        assert found[2]["choices"][0]["finish_reason"] == "stop"
        assert found[3]["choices"] == [] and found[3]["usage"]["completion_tokens"] == 282
        assert found[4] == "[DONE]" and len(found) == 5
        assert "".join(stream.state.text) == "The sky"


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    stream = ADAPTOR.translator(call(stream=True), target())
    found = events(stream.feed(STREAM) + stream.close(Usage(26, 282)))
    assert not any(isinstance(e, dict) and "usage" in e for e in found) and found[-1] == "[DONE]"


def test_stream_tool_calls_and_thinking() -> None:
    lines = (b'{"message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}\n'
             b'{"message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x","function":{"index":0,'
             b'"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}\n'
             b'{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_time",'
             b'"arguments":{}}}]},"done":false}\n'
             b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":9}\n')
    stream = ADAPTOR.translator(call(stream=True), target())
    found = events(stream.feed(lines) + stream.close(None))
    deltas = [e["choices"][0]["delta"] for e in found[:-1]]
    assert deltas[0] == {"role": "assistant", "reasoning_content": "hmm"}
    assert deltas[1]["tool_calls"] == [{"index": 0, "id": "call_x", "type": "function",
                                        "function": {"name": "get_weather", "arguments": ""}}]
    assert deltas[2]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"city":"Tokyo"}'}}]
    assert deltas[3]["tool_calls"][0]["index"] == 1 and deltas[3]["tool_calls"][0]["id"].startswith("call_")
    assert deltas[4]["tool_calls"] == [{"index": 1, "function": {"arguments": "{}"}}]
    assert found[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert stream.state.usage == Usage(0, 9)


def test_error_line_before_output_is_retryable_and_silent() -> None:
    stream = ADAPTOR.translator(call(stream=True), target())
    assert stream.feed(b'{"error":"an error was encountered while running the model"}\n') == []
    assert stream.state.error is not None and stream.state.error.retryable


def test_error_line_mid_stream_is_forwarded() -> None:
    stream = ADAPTOR.translator(call(stream=True), target())
    first_line = STREAM.split(b"\n")[0] + b"\n"
    pieces = stream.feed(first_line + b'{"error":"an error was encountered while running the model"}\n')
    found = events(pieces)
    assert found[-1]["error"]["message"] == "an error was encountered while running the model"
    assert stream.state.error is not None
    assert events(stream.close(None)) == ["[DONE]"]


def test_generate_stream_is_text_completion_chunks() -> None:
    lines = b'{"response":"upon","done":false}\n{"response":" a time","done":true,"eval_count":3}'
    stream = ADAPTOR.translator(call(Mode.COMPLETIONS, prompt="Once", stream=True), target())
    found = events(stream.feed(lines) + stream.close(None))  # the last line has no newline
    assert [e["choices"][0]["text"] for e in found[:-1]] == ["upon", " a time", ""]
    assert found[0]["object"] == "text_completion" and found[-2]["choices"][0]["finish_reason"] == "stop"
