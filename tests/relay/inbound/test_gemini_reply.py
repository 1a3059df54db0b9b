"""OpenAI chat answers as Gemini GenerateContentResponses, Tollway's errors in Google's shape; read by google-genai."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.relay.inbound.cases import HELLO, THOUGHTFUL, TOOL_CALL, completion
from tests.relay.inbound.loopback import Upstream, genai_client
from tollway.errors import AuthenticationFailed, InvalidRequest, NoChannel, RateLimited, TollwayError, UpstreamError
from tollway.relay.inbound.gemini_reply import error_answer, generate_answer
from tollway.relay.inbound.gemini_request import GeminiAsk
from tollway.relay.usage import Usage

ASK = GeminiAsk("gemini-2.5-flash")


def answer(body: bytes, ask: GeminiAsk = ASK, usage: Usage | None = None) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(generate_answer(body, ask, usage))
    genai_types.GenerateContentResponse.model_validate(found)  # the SDK's own type takes it
    return found


def test_text_answer() -> None:
    found = answer(HELLO)
    assert found["candidates"] == [{"content": {"role": "model", "parts": [
        {"text": "Hello! How can I assist you today?"}]}, "index": 0, "finishReason": "STOP"}]
    assert found["usageMetadata"] == {"promptTokenCount": 19, "candidatesTokenCount": 10, "totalTokenCount": 29}
    assert found["modelVersion"] == "gemini-2.5-flash" and found["responseId"]


def test_tool_calls_are_function_call_parts_with_object_args_and_stop() -> None:
    found = answer(TOOL_CALL)
    assert found["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_abc123", "name": "get_current_weather", "args": {"location": "Boston, MA"}}}]
    assert found["candidates"][0]["finishReason"] == "STOP"  # Gemini ends a function call with STOP


def test_thoughts_only_when_asked_and_thoughts_counted_apart() -> None:
    assert answer(THOUGHTFUL)["candidates"][0]["content"]["parts"] == [{"text": "There are infinitely many."}]
    found = answer(THOUGHTFUL, GeminiAsk("gemini-2.5-flash", thoughts=True))
    assert found["candidates"][0]["content"]["parts"][0] == {"text": "Dirichlet's theorem...", "thought": True}
    assert found["usageMetadata"] == {"promptTokenCount": 30, "candidatesTokenCount": 10, "totalTokenCount": 80,
                                      "thoughtsTokenCount": 40, "cachedContentTokenCount": 12}


@pytest.mark.parametrize(("finish", "reason"), [("stop", "STOP"), ("length", "MAX_TOKENS"),
                                                ("content_filter", "SAFETY"), ("tool_calls", "STOP"),
                                                (None, "STOP"), ("odd", "OTHER")])
def test_finish_reasons(finish: str | None, reason: str) -> None:
    body = json.loads(HELLO)
    body["choices"][0]["finish_reason"] = finish
    assert answer(json.dumps(body).encode())["candidates"][0]["finishReason"] == reason


def test_several_choices_are_several_candidates() -> None:
    body = json.loads(HELLO)
    body["choices"].append({"index": 1, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"})
    found = answer(json.dumps(body).encode())
    assert [(c["index"], c["content"]["parts"][0]["text"]) for c in found["candidates"]] == [
        (0, "Hello! How can I assist you today?"), (1, "Hi!")]


def test_the_pipelines_count_stands_in_for_missing_usage() -> None:
    body = json.loads(completion({"content": "x"}))
    del body["usage"]
    assert answer(json.dumps(body).encode(), usage=Usage(3, 2))["usageMetadata"]["totalTokenCount"] == 5


def test_through_google_genai() -> None:
    response = genai_client(Upstream(whole=TOOL_CALL)).models.generate_content(
        model="gemini-2.5-flash", contents="weather in Boston?",
        config=genai_types.GenerateContentConfig(
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True)))
    assert response.function_calls is not None
    [call] = response.function_calls
    assert (call.name, call.args, call.id) == ("get_current_weather", {"location": "Boston, MA"}, "call_abc123")
    assert response.usage_metadata is not None and response.usage_metadata.total_token_count == 29


# -- errors -----------------------------------------------------------------------------------------------------

ERRORS: list[tuple[TollwayError, int, str, type[genai_errors.APIError]]] = [
    (InvalidRequest("'contents' must be a non-empty array"), 400, "INVALID_ARGUMENT", genai_errors.ClientError),
    (AuthenticationFailed("invalid token"), 401, "UNAUTHENTICATED", genai_errors.ClientError),
    (NoChannel("no available channel for model gemini-x in group default"), 404, "NOT_FOUND",
     genai_errors.ClientError),
    (RateLimited("slow down"), 429, "RESOURCE_EXHAUSTED", genai_errors.ClientError),
    (UpstreamError("bad gateway"), 502, "INTERNAL", genai_errors.ServerError),
    (UpstreamError("unavailable", status_code=503), 503, "UNAVAILABLE", genai_errors.ServerError),
]


@pytest.mark.parametrize(("error", "status", "rpc", "raised"), ERRORS, ids=[type(e[0]).__name__ + str(e[1])
                                                                             for e in ERRORS])
def test_errors_in_googles_shape_and_the_sdks_exception(error: TollwayError, status: int, rpc: str,
                                                        raised: type[genai_errors.APIError]) -> None:
    got, body = error_answer(error)
    assert got == status
    assert json.loads(body) == {"error": {"code": status, "message": error.message, "status": rpc}}
    with pytest.raises(raised) as caught:
        genai_client(Upstream(error=error)).models.generate_content(model="gemini-x", contents="x")
    assert (caught.value.code, caught.value.status) == (status, rpc)
