"""OpenAI chat answers as Response objects, and Tollway's errors for Responses clients, checked with the openai SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.relay.inbound.cases import HELLO, THOUGHTFUL, TOOL_CALL, completion
from tests.relay.inbound.loopback import Upstream, openai_client
from tollway.errors import AuthenticationFailed, InvalidRequest, NoChannel, RateLimited, TollwayError, UpstreamError
from tollway.relay.inbound.responses_reply import error_answer, response_answer
from tollway.relay.inbound.responses_request import chat_request
from tollway.relay.usage import Usage


def answer(body: bytes, request: dict[str, Any] | None = None, usage: Usage | None = None) -> dict[str, Any]:
    _, ask = chat_request({"model": "gpt-4.1", "input": "x", **(request or {})})
    found: dict[str, Any] = json.loads(response_answer(body, ask, usage))
    Response.model_validate(found)  # the SDK's own type takes it
    return found


def test_text_answer() -> None:
    found = answer(HELLO)
    assert found["id"].startswith("resp_") and found["object"] == "response" and found["status"] == "completed"
    assert found["model"] == "gpt-4.1" and found["error"] is None and found["incomplete_details"] is None
    [message] = found["output"]
    assert message["id"].startswith("msg_")
    assert {k: v for k, v in message.items() if k != "id"} == {
        "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello! How can I assist you today?", "annotations": [],
                     "logprobs": []}]}
    assert found["usage"] == {"input_tokens": 19, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                              "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 29}
    assert Response.model_validate(found).output_text == "Hello! How can I assist you today?"


def test_function_calls_are_function_call_items() -> None:
    [call] = answer(TOOL_CALL)["output"]
    assert call["id"].startswith("fc_")
    assert {k: v for k, v in call.items() if k != "id"} == {
        "type": "function_call", "status": "completed", "call_id": "call_abc123", "name": "get_current_weather",
        "arguments": "{\n\"location\": \"Boston, MA\"\n}"}


def test_reasoning_comes_first_as_a_reasoning_item_and_usage_has_its_details() -> None:
    found = answer(THOUGHTFUL)
    assert [item["type"] for item in found["output"]] == ["reasoning", "message"]
    assert found["output"][0]["content"] == [{"type": "reasoning_text", "text": "Dirichlet's theorem..."}]
    assert found["usage"]["input_tokens_details"]["cached_tokens"] == 12
    assert found["usage"]["output_tokens_details"]["reasoning_tokens"] == 40


@pytest.mark.parametrize(("finish", "status", "reason"), [("length", "incomplete", "max_output_tokens"),
                                                          ("content_filter", "incomplete", "content_filter"),
                                                          ("stop", "completed", None), (None, "completed", None)])
def test_an_answer_cut_short_is_incomplete(finish: str | None, status: str, reason: str | None) -> None:
    body = json.loads(HELLO)
    body["choices"][0]["finish_reason"] = finish
    found = answer(json.dumps(body).encode())
    assert found["status"] == status and found["output"][0]["status"] == status
    assert found["incomplete_details"] == ({"reason": reason} if reason else None)


def test_the_request_settings_are_repeated_back() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": True}
    request = {"instructions": "Be brief.", "max_output_tokens": 64, "temperature": 0.2, "top_p": 0.5,
               "tools": [tool], "tool_choice": "required", "parallel_tool_calls": False,
               "reasoning": {"effort": "high"}, "metadata": {"k": "v"},
               "text": {"format": {"type": "json_object"}}}
    found = answer(HELLO, request)
    for name, value in request.items():
        assert found[name] == (value if name != "reasoning" else {"effort": "high", "summary": None}), name
    assert found["store"] is False and found["previous_response_id"] is None


def test_missing_usage_is_the_pipelines_count_or_null() -> None:
    body = json.loads(HELLO)
    del body["usage"]
    assert answer(json.dumps(body).encode(), usage=Usage(5, 6))["usage"]["total_tokens"] == 11
    assert answer(json.dumps(body).encode())["usage"] is None


def test_an_empty_answer_is_an_empty_message() -> None:
    found = answer(completion({"content": None}))
    assert found["output"][0]["content"] == [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}]


def test_through_the_sdk() -> None:
    response = openai_client(Upstream(whole=TOOL_CALL)).responses.create(model="gpt-4.1", input="weather?")
    call = response.output[0]
    assert call.type == "function_call" and call.call_id == "call_abc123"
    assert json.loads(call.arguments) == {"location": "Boston, MA"}
    assert response.usage is not None and response.usage.total_tokens == 29


# -- errors -----------------------------------------------------------------------------------------------------

ERRORS: list[tuple[TollwayError, int, type[openai.APIStatusError]]] = [
    (InvalidRequest("'input' is empty", param="input"), 400, openai.BadRequestError),
    (AuthenticationFailed("invalid token"), 401, openai.AuthenticationError),
    (NoChannel("no available channel for model m in group default"), 404, openai.NotFoundError),
    (RateLimited("slow down"), 429, openai.RateLimitError),
    (UpstreamError("bad gateway"), 502, openai.InternalServerError),
]


@pytest.mark.parametrize(("error", "status", "raised"), ERRORS, ids=[type(e[0]).__name__ for e in ERRORS])
def test_errors_in_openais_shape_and_the_sdks_exception(error: TollwayError, status: int,
                                                        raised: type[openai.APIStatusError]) -> None:
    got, body = error_answer(error, "r-1")
    assert got == status
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(raised) as caught:
        openai_client(Upstream(error=error)).responses.create(model="m", input="x")
    assert caught.value.status_code == status


def test_no_channel_is_openais_model_not_found_and_is_not_retried() -> None:
    _, body = error_answer(NoChannel("no available channel for model m in group default"))
    assert json.loads(body)["error"] == {"message": "no available channel for model m in group default",
                                         "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    upstream = Upstream(error=NoChannel("none"))
    with pytest.raises(openai.NotFoundError):
        openai_client(upstream).with_options(max_retries=2).responses.create(model="m", input="x")
    assert len(upstream.sent) == 1


def test_a_refused_field_is_the_sdks_bad_request_naming_it() -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(Upstream()).responses.create(model="m", input="x", previous_response_id="resp_1")
    assert caught.value.param == "previous_response_id"

