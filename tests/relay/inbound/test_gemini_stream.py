"""OpenAI chat streams as Gemini SSE streams (`data: {GenerateContentResponse}` events), read by google-genai."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.relay.inbound.cases import MIXED_STREAM, TEXT_STREAM, TOOL_STREAM, error_frame
from tests.relay.inbound.loopback import Upstream, chat_sse, genai_client
from tollway.relay.inbound.gemini_request import GeminiAsk
from tollway.relay.inbound.gemini_stream import GeminiStream
from tollway.relay.usage import Usage

ASK = GeminiAsk("gemini-2.5-flash", stream=True)


def chunks(out: list[bytes]) -> list[dict[str, Any]]:
    """The JSON of each `data:` event; Gemini's stream has no event lines and no end marker."""
    found = []
    for frame in b"".join(out).split(b"\n\n"):
        if frame:
            assert frame.startswith(b"data: ") and b"\n" not in frame
            found.append(json.loads(frame[6:]))
    return found


def translate(stream: bytes, ask: GeminiAsk = ASK, usage: Usage | None = None) -> list[dict[str, Any]]:
    translator = GeminiStream(ask)
    found = chunks(translator.feed(stream) + translator.close(usage))
    for chunk in found:
        if "error" not in chunk:
            genai_types.GenerateContentResponse.model_validate(chunk)
    return found


def test_text_goes_out_as_it_comes_and_the_last_event_finishes_with_usage() -> None:
    found = translate(TEXT_STREAM)
    assert [chunk["candidates"][0]["content"]["parts"] for chunk in found] == [
        [{"text": "Hello"}], [{"text": "!"}], [{"text": ""}]]
    assert [chunk["candidates"][0].get("finishReason") for chunk in found] == [None, None, "STOP"]
    assert "usageMetadata" not in found[0]
    assert found[-1]["usageMetadata"] == {"promptTokenCount": 14, "candidatesTokenCount": 25, "totalTokenCount": 44,
                                          "thoughtsTokenCount": 5, "cachedContentTokenCount": 4}
    assert len({chunk["responseId"] for chunk in found}) == 1
    assert all(chunk["modelVersion"] == "gemini-2.5-flash" for chunk in found)


def test_thoughts_go_out_when_asked_for() -> None:
    found = translate(TEXT_STREAM, GeminiAsk("gemini-2.5-flash", stream=True, thoughts=True))
    assert found[0]["candidates"][0]["content"]["parts"] == [{"text": "The user greets me.", "thought": True}]


def test_function_calls_are_sent_whole_with_the_finish() -> None:
    found = translate(TOOL_STREAM)
    assert len(found) == 1
    assert found[0]["candidates"] == [{"content": {"role": "model", "parts": [
        {"functionCall": {"id": "call_4XzlGBLtUe9dy3GVNV4jhq7h", "name": "get_weather",
                          "args": {"city": "New York City"}}}]}, "index": 0, "finishReason": "STOP"}]
    mixed = translate(MIXED_STREAM)
    assert mixed[0]["candidates"][0]["content"]["parts"] == [{"text": "Checking both."}]
    assert [part["functionCall"]["name"] for part in mixed[-1]["candidates"][0]["content"]["parts"]] == [
        "get_weather", "get_time"]


def test_a_length_finish_and_the_pipelines_count() -> None:
    found = translate(chat_sse([{"choices": [{"index": 0, "delta": {"content": "cut"}, "finish_reason": "length"}]}]),
                      usage=Usage(5, 1))
    assert found[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert found[-1]["usageMetadata"]["promptTokenCount"] == 5


def test_a_failure_after_the_start_is_an_error_event() -> None:
    translator = GeminiStream(ASK)
    out = translator.feed(chat_sse([{"choices": [{"index": 0, "delta": {"content": "part"}}]}], done=False))
    out += translator.feed(error_frame("deadline", "upstream_504")) + translator.close(None)
    found = chunks(out)
    assert found[-1] == {"error": {"code": 500, "message": "deadline", "status": "INTERNAL"}}


def test_a_failure_first_writes_nothing() -> None:
    translator = GeminiStream(ASK)
    assert translator.feed(error_frame()) == [] and translator.state.error is not None


# -- through google-genai ---------------------------------------------------------------------------------------


def test_google_genai_reads_the_stream() -> None:
    client = genai_client(Upstream(stream=MIXED_STREAM))
    config = genai_types.GenerateContentConfig(
        automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True))
    found = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="x", config=config))
    assert found[0].text == "Checking both."
    assert found[-1].function_calls is not None
    assert [(call.name, call.args) for call in found[-1].function_calls] == [("get_weather", {"city": "Paris"}),
                                                                              ("get_time", {"zone": "CET"})]
    assert found[-1].candidates is not None and found[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert found[-1].usage_metadata is not None and found[-1].usage_metadata.total_token_count == 60


def test_google_genai_raises_on_an_error_event() -> None:
    stream = chat_sse([{"choices": [{"index": 0, "delta": {"content": "part"}}]}], done=False) + error_frame()
    client = genai_client(Upstream(stream=stream))
    with pytest.raises(genai_errors.ServerError) as caught:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    assert caught.value.code == 500
