"""The Anthropic adaptor as pure translation: request bodies, whole answers and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic import AnthropicAdaptor
from tollway.relay.adaptors.base import Target
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = AnthropicAdaptor()


def target(base_url: str = "", model: str = "claude-sonnet-4-20250514", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 14, "key": "sk-ant-upstream", "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(14), model)


def chat(**body: Any) -> Call:
    body.setdefault("model", "claude-sonnet-4-20250514")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, json.dumps(body).encode())


def sent(call: Call, tgt: Target | None = None) -> dict[str, Any]:
    request = ADAPTOR.request(call, tgt or target())
    body: dict[str, Any] = json.loads(request.content)
    return body


# -- requests ------------------------------------------------------------------------------------------------


def test_url_headers_and_minimal_body() -> None:
    request = ADAPTOR.request(chat(), target())
    assert request.method == "POST" and request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-upstream"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.stream is False
    assert json.loads(request.content) == {"model": "claude-sonnet-4-20250514", "max_tokens": 4096,
                                           "messages": [{"role": "user", "content": "hi"}]}


def test_base_url_override_and_stream_flag() -> None:
    request = ADAPTOR.request(chat(stream=True), target("http://127.0.0.1:9/proxy/"))
    assert request.url == "http://127.0.0.1:9/proxy/v1/messages"
    assert request.stream is True and json.loads(request.content)["stream"] is True
    assert request.headers["accept"] == "text/event-stream"


def test_system_and_developer_messages_are_hoisted() -> None:
    body = sent(chat(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Sign with your name."},
    ]))
    assert body["system"] == "Be brief.\n\nAnswer in French.\n\nSign with your name."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_channel_system_prompt_replaces_the_first_system_message() -> None:
    call = chat(messages=[{"role": "system", "content": "client prompt"}, {"role": "user", "content": "hi"}])
    request = ADAPTOR.request(with_system_prompt(call, "channel prompt"), target())
    assert json.loads(request.content)["system"] == "channel prompt"


def test_only_a_system_prompt_becomes_the_user_message() -> None:
    body = sent(chat(messages=[{"role": "system", "content": "Tell a joke."}]))
    assert "system" not in body and body["messages"] == [{"role": "user", "content": "Tell a joke."}]


def test_consecutive_turns_of_one_role_are_merged_and_empty_text_dropped() -> None:
    body = sent(chat(messages=[
        {"role": "user", "content": "one"}, {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": ""}, {"role": "assistant", "content": "three"},
        {"role": "user", "content": "four"},
    ]))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "four"},
    ]


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    body = sent(chat(messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "Thanks"},
    ]))
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "noon"}]},
        {"type": "text", "text": "Thanks"},
    ]}


def test_images_and_documents() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
    ]
    body = sent(chat(messages=[{"role": "user", "content": content}]))
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
         "title": "a.pdf"},
    ]


def test_sampling_limits_and_stops() -> None:
    body = sent(chat(max_tokens=100, max_completion_tokens=200, temperature=1.6, top_p=0.9, top_k=40,
                     stop=["\n\nHuman:", "  ", ""], user="u-1", n=1, seed=3))
    assert body["max_tokens"] == 200 and body["temperature"] == 1 and body["top_p"] == 0.9 and body["top_k"] == 40
    assert body["stop_sequences"] == ["\n\nHuman:"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert "n" not in body and "seed" not in body
    assert sent(chat(stop="END"))["stop_sequences"] == ["END"]


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.mark.parametrize("choice,expected", [
    (None, None),
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tools_and_tool_choice(choice: Any, expected: Any) -> None:
    extra = {"tool_choice": choice} if choice is not None else {}
    body = sent(chat(tools=[WEATHER, {"type": "function", "function": {"name": "now"}}], **extra))
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather of a city", "input_schema": WEATHER["function"]["parameters"]},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body.get("tool_choice") == expected


def test_parallel_tool_calls_off() -> None:
    body = sent(chat(tools=[WEATHER], parallel_tool_calls=False))
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_reasoning_effort_becomes_a_thinking_budget() -> None:
    body = sent(chat(reasoning_effort="medium", temperature=0.2))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 4096 + 4096 and "temperature" not in body
    # With a client limit, the budget fits inside it; too small a limit leaves thinking off.
    assert sent(chat(reasoning_effort="high", max_tokens=3000))["thinking"]["budget_tokens"] == 2999
    assert "thinking" not in sent(chat(reasoning_effort="low", max_tokens=1000))
    own = {"type": "enabled", "budget_tokens": 2048}
    assert sent(chat(thinking=own))["thinking"] == own


def test_only_chat_is_served() -> None:
    call = parse_json(Mode.EMBEDDINGS, b'{"model":"claude-3-haiku-20240307","input":"hi"}')
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.request(call, target())
    assert caught.value.status_code == 400 and caught.value.retryable


def test_unsupported_content_part() -> None:
    content = [{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]
    with pytest.raises(UpstreamError, match="input_audio"):
        sent(chat(messages=[{"role": "user", "content": content}]))


# -- whole answers ----------------------------------------------------------------------------------------------

# Recorded (anthropic-sdk-python inline snapshot; reference §2).
RECORDED = {"model": "claude-sonnet-4-5-20250929", "id": "msg_01T4jd6NyD9xGGtTPDC4ogy5", "type": "message",
            "role": "assistant", "content": [{"type": "text", "text": "{\"items\":[],\"total\":14.0}"}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 406, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                      "output_tokens": 50, "service_tier": "standard", "inference_geo": "not_available"}}


def test_recorded_answer() -> None:
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", json.dumps(RECORDED).encode())
    data = json.loads(answer.content)
    assert data["id"] == "chatcmpl-msg_01T4jd6NyD9xGGtTPDC4ogy5" and data["object"] == "chat.completion"
    assert data["model"] == "claude-sonnet-4-5-20250929"
    message = {"role": "assistant", "content": "{\"items\":[],\"total\":14.0}"}
    assert data["choices"] == [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]
    assert data["usage"] == {"prompt_tokens": 406, "completion_tokens": 50, "total_tokens": 456}
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (406, 50)


def test_answer_with_thinking_tool_use_and_cache() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
               "content": [{"type": "thinking", "thinking": "Paris is in France.", "signature": "sig"},
                           {"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
               "stop_reason": "tool_use",
               "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5,
                         "output_tokens": 20}}
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", json.dumps(message).encode())
    data = json.loads(answer.content)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant", "content": "Let me check.", "reasoning_content": "Paris is in France.",
        "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
    assert data["usage"] == {"prompt_tokens": 115, "completion_tokens": 20, "total_tokens": 135,
                             "prompt_tokens_details": {"cached_tokens": 100}}
    tool_only = {**message, "content": message["content"][2:]}
    data = json.loads(ADAPTOR.answer(chat(), target(), 200, "", json.dumps(tool_only).encode()).content)
    assert data["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize("reason,finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                           ("tool_use", "tool_calls"), ("refusal", "content_filter")])
def test_stop_reasons(reason: str, finish: str) -> None:
    body = json.dumps({**RECORDED, "stop_reason": reason}).encode()
    assert json.loads(ADAPTOR.answer(chat(), target(), 200, "", body).content)["choices"][0]["finish_reason"] == finish


# -- errors ------------------------------------------------------------------------------------------------------


def anthropic_error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}).encode()


@pytest.mark.parametrize("status,kind,expected,retryable", [
    (400, "invalid_request_error", 400, False),
    (401, "authentication_error", 401, True),
    (403, "permission_error", 403, True),
    (404, "not_found_error", 404, True),
    (413, "request_too_large", 413, False),
    (429, "rate_limit_error", 429, True),
    (500, "api_error", 500, True),
    (529, "overloaded_error", 503, True),
])
def test_error_statuses(status: int, kind: str, expected: int, retryable: bool) -> None:
    error = ADAPTOR.error(status, anthropic_error(kind, "went wrong"))
    assert (error.status_code, error.retryable) == (expected, retryable)
    assert error.openai_body()["error"] == {"message": "went wrong", "type": kind, "param": None, "code": kind}


def test_exhausted_credit_is_a_quota_error() -> None:
    error = ADAPTOR.error(400, anthropic_error("invalid_request_error", "Your credit balance is too low to access "
                                                                        "the Anthropic API."))
    assert error.status_code == 403 and error.retryable


def test_error_bodies_of_other_shapes() -> None:
    error = ADAPTOR.error(529, b"<html>overloaded</html>")
    assert error.status_code == 503 and error.retryable
    # A JSON error with HTTP 200 (what the pipeline passes for a stream answered with JSON) keeps its type's status.
    assert ADAPTOR.error(502, anthropic_error("rate_limit_error", "slow down")).status_code == 429
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.answer(chat(), target(), 200, "application/json", anthropic_error("overloaded_error", "Overloaded"))
    assert caught.value.status_code == 503
