"""The Gemini adaptor as pure translation, on the reference's recorded traffic (adk-go .httprr traces) and vectors."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import orjson
import pytest

from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.gemini import GeminiAdaptor, api_version
from tollway.relay.adaptors.gemini_answer import SIGNATURE_MARK, embeddings_answer, gemini_answer, gemini_usage
from tollway.relay.adaptors.gemini_errors import google_error
from tollway.relay.adaptors.gemini_request import embedding_body, gemini_body
from tollway.relay.adaptors.gemini_stream import GeminiStream
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

# Reference §3, recorded request (google/adk-go TestToolCallback.httprr).
RECORDED_REQUEST = {
    "contents": [{"parts": [{"text": "Generate random number with 5 as a seed."}], "role": "user"}],
    "systemInstruction": {"parts": [{"text": "output ONLY the result computed by the provided function"}]},
    "tools": [{"functionDeclarations": [{"description": "returns random number", "name": "rand_number",
                                         "parametersJsonSchema": {"type": "object",
                                                                  "properties": {"seed": {"type": "integer"}},
                                                                  "required": ["seed"]}}]}],
}
# Reference §3, recorded non-stream response (gemini-2.0-flash, function call).
RECORDED_ANSWER = (
    b'{"candidates":[{"content":{"parts":[{"functionCall":{"name":"rand_number","args":{"seed":5}}}],"role":"model"},'
    b'"finishReason":"STOP","avgLogprobs":5.0552887842059134e-06}],'
    b'"usageMetadata":{"promptTokenCount":25,"candidatesTokenCount":5,"totalTokenCount":30,'
    b'"promptTokensDetails":[{"modality":"TEXT","tokenCount":25}],'
    b'"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":5}]},'
    b'"modelVersion":"gemini-2.0-flash","responseId":"MoL3aKnvOdDmvdIPxenVmQ4"}'
)
# Reference §3, recorded stream (gemini-2.5-flash, thinking; abridged), with Google's CRLF event ends.
RECORDED_STREAM = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "**Calculating Prime Sum**\\n\\n...","thought": true}],'
    b'"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 28,"totalTokenCount": 98,'
    b'"promptTokensDetails": [{"modality": "TEXT","tokenCount": 28}],"thoughtsTokenCount": 70},'
    b'"modelVersion": "gemini-2.5-flash","responseId": "WEXbaMnpF7iPjMcP27mckQE"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "To find the sum of the first 50 prime numbers, ..."}],'
    b'"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 28,"candidatesTokenCount": 47,'
    b'"totalTokenCount": 1249,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 28}],'
    b'"thoughtsTokenCount": 1174},"modelVersion": "gemini-2.5-flash","responseId": "WEXbaMnpF7iPjMcP27mckQE"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": '
    b'"5309**\\n\\nThe sum of the first 50 prime numbers is 5309."}],'
    b'"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 28,'
    b'"candidatesTokenCount": 643,"totalTokenCount": 1845,'
    b'"promptTokensDetails": [{"modality": "TEXT","tokenCount": 28}],'
    b'"thoughtsTokenCount": 1174},"modelVersion": "gemini-2.5-flash","responseId": "WEXbaMnpF7iPjMcP27mckQE"}\r\n\r\n'
)
# Reference §3, a real answer to a bad key.
BAD_KEY = (
    b'{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",'
    b'"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID",'
    b'"domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},'
    b'{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US",'
    b'"message":"API key not valid. Please pass a valid API key."}]}}'
)
RAND_TOOL = {"type": "function", "function": {
    "name": "rand_number", "description": "returns random number",
    "parameters": {"type": "object", "properties": {"seed": {"type": "integer"}}, "required": ["seed"]}}}


def chat(**body: Any) -> Call:
    body.setdefault("model", "gemini-2.0-flash")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, orjson.dumps(body))


def target(model: str = "gemini-2.0-flash", base_url: str = "", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 24, "key": "AIza-key", "status": 1, "name": "g", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(24), model)


def events(frames: list[bytes]) -> list[dict[str, Any]]:
    lines = b"".join(frames).split(b"\n\n")
    assert lines[-2] == b"data: [DONE]" and lines.count(b"data: [DONE]") == 1
    return [json.loads(line.removeprefix(b"data: ")) for line in lines[:-2]]


# -- requests -----------------------------------------------------------------------------------------------


def test_recorded_request_is_what_the_openai_call_becomes() -> None:
    call = chat(messages=[{"role": "system", "content": "output ONLY the result computed by the provided function"},
                          {"role": "user", "content": "Generate random number with 5 as a seed."}], tools=[RAND_TOOL])
    body = gemini_body(call, "gemini-2.0-flash")
    assert {key: body[key] for key in RECORDED_REQUEST} == RECORDED_REQUEST
    assert "generationConfig" not in body
    assert [s["threshold"] for s in body["safetySettings"]] == ["BLOCK_NONE"] * 4


def test_roles_images_and_merged_turns() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": [{"type": "text", "text": "and kind"}]},
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]},
        {"role": "user", "content": "and that?"},
        {"role": "assistant", "content": "a pixel"},
        {"role": "user", "content": [image] * 20},
    ]
    body = gemini_body(chat(messages=messages), "gemini-2.0-flash", safety="BLOCK_ONLY_HIGH")
    assert body["systemInstruction"] == {"parts": [{"text": "be brief\nand kind"}]}
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"] == [{"text": "what is this?"},
                                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                                    {"text": "and that?"}]
    assert len(contents[2]["parts"]) == 15  # 16 images per request, as One API: one came earlier
    assert {s["threshold"] for s in body["safetySettings"]} == {"BLOCK_ONLY_HIGH"}


def test_tool_round_trip_becomes_function_call_and_response() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": f"call_2{SIGNATURE_MARK}c2ln", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": f"call_2{SIGNATURE_MARK}c2ln", "content": "sunny"},
    ]
    contents = gemini_body(chat(messages=messages), "gemini-2.0-flash")["contents"]
    assert contents[1] == {"role": "model", "parts": [
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "weather", "args": {"city": "Rome"}}, "thoughtSignature": "c2ln"}]}
    # Both results answer the same model turn, in one user turn.
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "weather", "response": {"result": "sunny"}}}]}


@pytest.mark.parametrize("choice,config", [
    ("none", {"mode": "NONE"}),
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "rand_number"}},
     {"mode": "ANY", "allowedFunctionNames": ["rand_number"]}),
])
def test_tool_choice_becomes_tool_config(choice: Any, config: dict[str, Any]) -> None:
    body = gemini_body(chat(tools=[RAND_TOOL], tool_choice=choice), "gemini-2.0-flash")
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_generation_config() -> None:
    call = chat(temperature=0.2, top_p=0.9, top_k=40, max_tokens=100, stop="END", n=2, seed=7,
                presence_penalty=0.5, response_format={"type": "json_schema", "json_schema": {
                    "name": "x", "schema": {"type": "object", "additionalProperties": False}}},
                reasoning_effort="low")
    config = gemini_body(call, "gemini-2.5-flash")["generationConfig"]
    assert config == {"temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 100, "stopSequences": ["END"],
                      "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "responseMimeType": "application/json",
                      "responseJsonSchema": {"type": "object", "additionalProperties": False},
                      "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}
    # Models that do not think get no thinking config.
    assert "thinkingConfig" not in gemini_body(chat(reasoning_effort="low"), "gemini-2.0-flash").get(
        "generationConfig", {})


@pytest.mark.parametrize("configured,model,body,expected", [
    ("v1", "gemini-pro", {}, "v1"),
    ("v1", "gemini-pro", {"systemInstruction": {}}, "v1beta"),
    ("v1", "gemini-pro", {"tools": []}, "v1beta"),
    ("v1", "gemini-pro", {"generationConfig": {"responseMimeType": "application/json"}}, "v1beta"),
    ("v1", "gemini-1.5-flash", {}, "v1beta"),
    ("v1", "gemini-2.0-flash", {}, "v1beta"),
    ("v1", "gemini-exp-1206", {}, "v1beta"),
    ("v1alpha", "gemini-2.0-flash", {"tools": []}, "v1alpha"),
    ("v1beta", "gemini-pro", {}, "v1beta"),
])
def test_api_version(configured: str, model: str, body: dict[str, object], expected: str) -> None:
    assert api_version(configured, model, body) == expected


def test_request_urls_headers_and_base_url() -> None:
    adaptor = GeminiAdaptor(version="v1")
    whole = adaptor.request(chat(), target(base_url="http://127.0.0.1:9/"))
    assert whole.url == "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:generateContent"
    assert whole.headers["x-goog-api-key"] == "AIza-key" and not whole.stream
    stream = adaptor.request(chat(stream=True), target("gemini-pro", config={"api_version": "v1"}))
    assert stream.url == "https://generativelanguage.googleapis.com/v1/models/gemini-pro:streamGenerateContent?alt=sse"
    assert stream.stream
    prompted = adaptor.request(with_system_prompt(chat(), "You are Tollway."), target())
    assert json.loads(prompted.content)["systemInstruction"] == {"parts": [{"text": "You are Tollway."}]}


def test_only_chat_and_embeddings_are_served() -> None:
    from tollway.errors import UpstreamError

    call = parse_json(Mode.COMPLETIONS, b'{"model":"gemini-2.0-flash","prompt":"hi"}')
    with pytest.raises(UpstreamError) as raised:
        GeminiAdaptor().request(call, target())
    assert raised.value.status_code == 400 and raised.value.retryable


# -- whole answers ---------------------------------------------------------------------------------------------


def test_recorded_function_call_answer() -> None:
    answer = gemini_answer(chat(model="gemini-2.0-flash"), RECORDED_ANSWER)
    data = json.loads(answer.content)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # Gemini says STOP
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"] == {"name": "rand_number", "arguments": '{"seed":5}'}
    assert choice["message"]["content"] is None
    assert data["usage"] == {"prompt_tokens": 25, "completion_tokens": 5, "total_tokens": 30}
    assert data["id"] == "chatcmpl-MoL3aKnvOdDmvdIPxenVmQ4" and data["model"] == "gemini-2.0-flash"


def test_whole_answer_text_thoughts_and_usage_details() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Hi"}, {"text": "!"}],
                                        "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3, "thoughtsTokenCount": 4,
                              "cachedContentTokenCount": 6, "totalTokenCount": 17}}
    answer = gemini_answer(chat(), orjson.dumps(body))
    message = json.loads(answer.content)["choices"][0]
    assert message["message"] == {"role": "assistant", "content": "Hi!", "reasoning_content": "hmm"}
    assert message["finish_reason"] == "length"
    assert answer.usage is not None and answer.usage.as_openai() == {
        "prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 6}, "completion_tokens_details": {"reasoning_tokens": 4}}


def test_safety_finish_and_blocked_prompt() -> None:
    from tollway.errors import UpstreamError

    stopped = {"candidates": [{"finishReason": "SAFETY", "index": 0}]}
    choice = json.loads(gemini_answer(chat(), orjson.dumps(stopped)).content)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == ""
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    with pytest.raises(UpstreamError) as raised:
        gemini_answer(chat(), orjson.dumps(blocked))
    assert (raised.value.status_code, raised.value.code, raised.value.retryable) == (400, "content_filter", False)


def test_thought_signature_travels_in_the_tool_call_id() -> None:
    body = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}},
                                                   "thoughtSignature": "U2lnbmF0dXJl"}]}, "finishReason": "STOP"}]}
    call_id = json.loads(gemini_answer(chat(), orjson.dumps(body)).content)["choices"][0]["message"]["tool_calls"][0][
        "id"]
    assert call_id.endswith(SIGNATURE_MARK + "U2lnbmF0dXJl")
    back = [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
                                                  "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "ok"}]
    parts = gemini_body(chat(messages=back), "gemini-3-pro-preview")["contents"][1]["parts"]
    assert parts == [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "U2lnbmF0dXJl"}]


# -- streams ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 64, len(RECORDED_STREAM)])
def test_recorded_thinking_stream(size: int) -> None:
    stream = GeminiStream(chat(model="gemini-2.5-flash", stream=True, stream_options={"include_usage": True}))
    out: list[bytes] = []
    for start in range(0, len(RECORDED_STREAM), size):
        out += stream.feed(RECORDED_STREAM[start:start + size])
    assert stream.state.error is None
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        28, 643 + 1174, 1174)
    chunks = events(out + stream.close(usage))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "reasoning_content": "**Calculating Prime Sum**\n\n..."}
    assert "".join(d.get("content", "") for d in deltas).endswith("The sum of the first 50 prime numbers is 5309.")
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 1174}
    assert {c["id"] for c in chunks} == {"chatcmpl-WEXbaMnpF7iPjMcP27mckQE"}


def test_streamed_function_calls_are_openai_tool_call_deltas() -> None:
    event = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "a", "args": {"x": 1}}},
                                                   {"functionCall": {"name": "b", "args": {}}}], "role": "model"},
                             "finishReason": "STOP", "index": 0}]}
    stream = GeminiStream(chat(stream=True))
    chunks = events(stream.feed(b"data: " + orjson.dumps(event) + b"\r\n\r\n") + stream.close(None))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["index"] == 0 and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "a", "arguments": ""} and calls[0]["type"] == "function"
    assert calls[1] == {"index": 0, "function": {"arguments": '{"x":1}'}}
    assert calls[2]["index"] == 1 and calls[2]["function"]["name"] == "b"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_error_event_first_is_an_error_before_any_output() -> None:
    stream = GeminiStream(chat(stream=True))
    out = stream.feed(b'data: {"error": {"code": 429, "message": "Resource exhausted", "status": '
                      b'"RESOURCE_EXHAUSTED"}}\r\n\r\n')
    assert out == [] and stream.state.error is not None
    assert (stream.state.error.status_code, stream.state.error.retryable) == (429, True)


def test_error_event_mid_stream_is_forwarded() -> None:
    stream = GeminiStream(chat(stream=True))
    first = stream.feed(b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}]}, "index": 0}]}\r\n\r\n')
    assert len(first) == 1
    out = stream.feed(b'data: {"error": {"code": 500, "message": "An internal error has occurred.", '
                      b'"status": "INTERNAL"}}\r\n\r\n')
    assert json.loads(out[0].removeprefix(b"data: "))["error"]["message"] == "An internal error has occurred."
    assert stream.state.error is not None and stream.state.error.status_code == 500


def test_blocked_prompt_in_stream_fails_before_output() -> None:
    stream = GeminiStream(chat(stream=True))
    assert stream.feed(b'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}\r\n\r\n') == []
    assert stream.state.error is not None and stream.state.error.code == "content_filter"


# -- usage, errors, embeddings ----------------------------------------------------------------------------------


def test_usage_includes_tool_use_prompt_tokens() -> None:
    usage = gemini_usage({"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 2})
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (15, 2)
    assert gemini_usage({"totalTokenCount": 0}) is None


@pytest.mark.parametrize("status,body,expected", [
    (400, BAD_KEY, (401, "invalid_api_key", True)),
    (429, b'{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).",'
          b'"status":"RESOURCE_EXHAUSTED"}}', (429, "resource_exhausted", True)),
    (400, b'{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}', (400, "invalid_argument", False)),
    (400, b'{"error":{"code":400,"message":"User location is not supported for the API use.",'
          b'"status":"FAILED_PRECONDITION"}}', (403, "failed_precondition", True)),
    (403, b'{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}', (403, "permission_denied", True)),
    (503, b'[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]',
     (503, "unavailable", True)),
    (502, b"<html>bad gateway</html>", (502, "upstream_502", True)),
])
def test_google_errors(status: int, body: bytes, expected: tuple[int, str, bool]) -> None:
    error = google_error(status, body)
    assert (error.status_code, error.code, error.retryable) == expected
    assert error.message


def test_embeddings_body_and_answer() -> None:
    call = parse_json(Mode.EMBEDDINGS, orjson.dumps({"model": "text-embedding-004", "input": ["hello", [15339]],
                                                     "dimensions": 2}))
    body = embedding_body(call, "text-embedding-004")
    assert body == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 2},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 2}]}
    answer = embeddings_answer(call, b'{"embeddings":[{"values":[0.5,-1.0]},{"values":[0.25,2.0]}]}', 4)
    data = json.loads(answer.content)
    assert [item["index"] for item in data["data"]] == [0, 1]
    assert data["data"][1]["embedding"] == [0.25, 2.0]
    assert data["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    packed = parse_json(Mode.EMBEDDINGS, b'{"model":"text-embedding-004","input":"hi","encoding_format":"base64"}')
    vector = json.loads(embeddings_answer(packed, b'{"embeddings":[{"values":[0.5,-1.0]}]}', 1).content)
    assert struct.unpack("<2f", base64.b64decode(vector["data"][0]["embedding"])) == (0.5, -1.0)


def test_generated_images_are_markdown_data_urls() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "Here:"}, {"inlineData": {"mimeType": "image/png",
                                                                                      "data": "iVBO"}}]},
                            "finishReason": "STOP"}]}
    message = json.loads(gemini_answer(chat(), orjson.dumps(body)).content)["choices"][0]["message"]
    assert message["content"] == "Here:![image](data:image/png;base64,iVBO)"
    stream = GeminiStream(chat(stream=True))
    chunks = events(stream.feed(b"data: " + orjson.dumps(body) + b"\r\n\r\n") + stream.close(None))
    assert chunks[0]["choices"][0]["delta"]["content"] == "Here:![image](data:image/png;base64,iVBO)"


def test_embedding_tokens_are_counted_locally() -> None:
    from tollway.relay.adaptors.gemini import embedding_tokens

    def count(value: Any) -> int:
        return embedding_tokens(parse_json(Mode.EMBEDDINGS, orjson.dumps({"model": "m", "input": value})), "m")

    assert count("hello world") == 2
    assert count(["hello world", [1, 2, 3]]) == 5
    assert count([1, 2, 3, 4]) == 4


@pytest.mark.parametrize("model,effort,config", [
    ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
    ("gemini-2.5-pro", "minimal", {"thinkingBudget": 128, "includeThoughts": True}),
    ("gemini-2.5-pro", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
])
def test_reasoning_effort_becomes_a_thinking_budget(model: str, effort: str, config: dict[str, Any]) -> None:
    assert gemini_body(chat(reasoning_effort=effort), model)["generationConfig"]["thinkingConfig"] == config
