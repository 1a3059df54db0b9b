"""OpenAI chat answers as Anthropic messages, and Tollway's errors as Anthropic's, checked with the anthropic SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import Message

from tests.relay.inbound.cases import HELLO, THOUGHTFUL, TOOL_CALL, completion
from tests.relay.inbound.loopback import Upstream, anthropic_client
from tollway.errors import (
    AuthenticationFailed,
    InsufficientQuota,
    InvalidRequest,
    NoChannel,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    TollwayError,
    UpstreamError,
)
from tollway.relay.adaptors.anthropic_replies import claude_error
from tollway.relay.inbound.anthropic_reply import error_answer, message_answer
from tollway.relay.inbound.anthropic_request import MessagesAsk
from tollway.relay.usage import Usage

ASK = MessagesAsk("claude-sonnet-4-5")


def answer(body: bytes, ask: MessagesAsk = ASK, usage: Usage | None = None) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(message_answer(body, ask, usage))
    Message.model_validate(message)  # the SDK's own type takes it
    return message


def test_text_answer_is_the_documented_message_shape() -> None:
    message = answer(HELLO)
    assert message["id"].startswith("msg_") and message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-sonnet-4-5"
    assert message["content"] == [{"type": "text", "text": "Hello! How can I assist you today?"}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)
    assert message["usage"] == {"input_tokens": 19, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                                "output_tokens": 10}


def test_tool_calls_become_tool_use_blocks_with_parsed_input() -> None:
    message = answer(TOOL_CALL)
    assert message["content"] == [{"type": "tool_use", "id": "call_abc123", "name": "get_current_weather",
                                   "input": {"location": "Boston, MA"}}]
    assert message["stop_reason"] == "tool_use"


def test_arguments_that_are_not_an_object_are_kept_under_a_key() -> None:
    body = completion({"content": "", "tool_calls": [{"id": "c", "type": "function",
                                                      "function": {"name": "f", "arguments": "[1, 2"}}]}, "stop")
    message = answer(body)
    assert message["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {"arguments": "[1, 2"}}]
    assert message["stop_reason"] == "tool_use"  # called a tool, whatever the upstream's finish said


def test_reasoning_is_a_thinking_block_only_when_thinking_was_asked_for() -> None:
    assert [block["type"] for block in answer(THOUGHTFUL)["content"]] == ["text"]
    thinking = answer(THOUGHTFUL, MessagesAsk("claude-sonnet-4-5", thinking=True))
    assert thinking["content"][0] == {"type": "thinking", "thinking": "Dirichlet's theorem...", "signature": ""}
    # Anthropic's input_tokens leave out the cache reads.
    assert thinking["usage"] == {"input_tokens": 18, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 12,
                                 "output_tokens": 50}


@pytest.mark.parametrize(("finish", "stop_reason"), [("stop", "end_turn"), ("length", "max_tokens"),
                                                     ("tool_calls", "tool_use"), ("function_call", "tool_use"),
                                                     ("content_filter", "refusal"), (None, "end_turn"),
                                                     ("something_new", "end_turn")])
def test_finish_reasons(finish: str | None, stop_reason: str) -> None:
    body = json.loads(HELLO)
    body["choices"][0]["finish_reason"] = finish
    assert answer(json.dumps(body).encode())["stop_reason"] == stop_reason


def test_the_pipelines_count_stands_in_for_missing_usage() -> None:
    body = json.loads(HELLO)
    del body["usage"]
    assert answer(json.dumps(body).encode(), usage=Usage(7, 3))["usage"]["output_tokens"] == 3
    assert answer(json.dumps(body).encode())["usage"]["input_tokens"] == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"choices": []}', b'{"choices": "x"}',
                                  b'{"error": {"message": "boom"}}'])
def test_unreadable_answers_are_upstream_errors(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        message_answer(body, ASK)


# -- errors -----------------------------------------------------------------------------------------------------

ERRORS: list[tuple[TollwayError, int, str, type[anthropic.APIStatusError]]] = [
    (InvalidRequest("'max_tokens' is required", param="max_tokens"), 400, "invalid_request_error",
     anthropic.BadRequestError),
    (PayloadTooLarge("too large"), 413, "request_too_large", anthropic.ContentTooLargeError),
    (AuthenticationFailed("invalid token"), 401, "authentication_error", anthropic.AuthenticationError),
    (PermissionDenied("model not allowed"), 403, "permission_error", anthropic.PermissionDeniedError),
    (InsufficientQuota("token quota is used up"), 402, "billing_error", anthropic.PaymentRequiredError),
    (NoChannel("no available channel for model x"), 404, "not_found_error", anthropic.NotFoundError),
    (RateLimited("slow down"), 429, "rate_limit_error", anthropic.RateLimitError),
    (UpstreamError("bad gateway"), 502, "api_error", anthropic.InternalServerError),
    (UpstreamError("timeout", status_code=504), 504, "timeout_error", anthropic.GatewayTimeoutError),
    (claude_error(529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'), 503,
     "overloaded_error", anthropic.ServiceUnavailableError),
    (UpstreamError("invalid key", status_code=401, error_type="invalid_request_error"), 401, "authentication_error",
     anthropic.AuthenticationError),
]


@pytest.mark.parametrize(("error", "status", "kind", "raised"), ERRORS, ids=[type(e[0]).__name__ + str(e[1])
                                                                              for e in ERRORS])
def test_errors_in_anthropics_shape_and_the_sdks_exception(error: TollwayError, status: int, kind: str,
                                                           raised: type[anthropic.APIStatusError]) -> None:
    got_status, body = error_answer(error, "20260101000000123")
    assert got_status == status
    message = f"{error.message} (request id: 20260101000000123)"
    assert json.loads(body) == {"type": "error", "error": {"type": kind, "message": message},
                                "request_id": "20260101000000123"}
    client = anthropic_client(Upstream(error=error))
    with pytest.raises(raised) as caught:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == kind


def test_no_channel_is_not_retried_by_the_sdk() -> None:
    """The SDK retries 5xx twice; "no channel" is a 404, asked once."""
    upstream = Upstream(error=NoChannel("no available channel for model m in group default"))
    client = anthropic_client(upstream).with_options(max_retries=2)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert len(upstream.sent) == 1


def test_a_bad_request_is_the_sdks_bad_request_error() -> None:
    client = anthropic_client(Upstream())
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}])
    assert "use a Claude channel" in caught.value.message


def test_whole_answers_through_the_sdk() -> None:
    message = anthropic_client(Upstream(whole=TOOL_CALL)).messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "weather in Boston?"}])
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.input == {"location": "Boston, MA"}
