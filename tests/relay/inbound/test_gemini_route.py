"""Gemini's native API end to end with the official google-genai SDK: translated for an OpenAI channel, passed through
to Gemini channels (and Vertex AI's Gemini models), under /v1beta and /v1, errors as the SDK's own classes."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.harness import ROOT_TOKEN, Gateway, ServerThread
from tests.relay.inbound.conftest import consume_logs
from tests.relay.providers.test_vertexai import KEY as VERTEX_KEY
from tests.relay.providers.test_vertexai import account
from tests.upstreams.gemini_mock import KEY as GEMINI_KEY
from tests.upstreams.gemini_mock import GeminiMock
from tests.upstreams.openai_mock import OpenAIMock
from tests.upstreams.vertex_mock import VertexMock

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")
WEATHER = types.FunctionDeclaration(name="get_weather", description="weather of a city", parameters_json_schema={
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
FLASH = "gemini-2.0-flash"


def client(gateway: Gateway, key: str = "sk-" + ROOT_TOKEN, version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url, timeout=30_000, api_version=version)
    return genai.Client(api_key=key, http_options=options)


# -- an OpenAI channel: translated -------------------------------------------------------------------------------


def test_translated_answer_usage_and_log(relay: Gateway, mock: OpenAIMock) -> None:
    sdk = client(relay)
    answer = sdk.models.generate_content(
        model="gpt-4o-mini", contents="hi",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.5, max_output_tokens=100))
    assert answer.text == "Hello from the mock."
    assert answer.candidates is not None and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata is not None
    assert (answer.usage_metadata.prompt_token_count, answer.usage_metadata.candidates_token_count) == (11, 5)
    sent = mock.requests[-1].json
    # google-genai sends the system instruction with role "user": it is read as the system prompt all the same.
    assert sent == {"model": "gpt-4o-mini", "temperature": 0.5, "max_tokens": 100, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    [row] = consume_logs(relay)
    assert (row["inbound_api"], row["prompt_tokens"], row["completion_tokens"]) == ("gemini", 11, 5)


def test_translated_stream(relay: Gateway, mock: OpenAIMock) -> None:
    sdk = client(relay, version="v1beta")
    chunks = list(sdk.models.generate_content_stream(model="gpt-4o-mini", contents="hi"))
    assert "".join(chunk.text or "" for chunk in chunks) == "Hello from the mock."
    last = chunks[-1]
    assert last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count == 5
    assert mock.requests[-1].json["stream"] is True
    assert [row["is_stream"] for row in consume_logs(relay)] == [True]


def test_translated_function_calls_both_ways(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", tool_call=True)
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])],
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    sdk = client(relay)
    answer = sdk.models.generate_content(model="gpt-4o-mini", contents="weather in Boston?", config=config)
    assert answer.function_calls is not None
    [call] = answer.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Boston"})
    assert mock.requests[-1].json["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "weather of a city", "parameters": WEATHER.parameters_json_schema}}]
    mock.plan("gpt-4o-mini")
    sdk.models.generate_content(model="gpt-4o-mini", config=config, contents=[
        types.Content(role="user", parts=[types.Part(text="weather in Boston?")]),
        types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(
            id="call_abc123", name="get_weather", args={"city": "Boston"}))]),
        types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
            id="call_abc123", name="get_weather", response={"sky": "sunny"}))])])
    messages = mock.requests[-1].json["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Boston"}'}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc123", "content": '{"sky":"sunny"}'}


def test_translated_image_embeddings_and_count(relay: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    relay.add_channel(mock_url, models="text-embedding-3-small")
    sdk = client(relay)
    sdk.models.generate_content(model="gpt-4o-mini", contents=[
        types.Part.from_bytes(data=PNG, mime_type="image/png"), "what is this?"])
    content = mock.requests[-1].json["messages"][0]["content"]
    assert content[0] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
    embedded = sdk.models.embed_content(model="text-embedding-3-small", contents=["one", "two"])
    assert embedded.embeddings is not None and [e.values for e in embedded.embeddings] == [[0.1, -0.2, 0.3]] * 2
    assert mock.requests[-1].path == "/v1/embeddings" and mock.requests[-1].json["input"] == ["one", "two"]
    counted = sdk.models.count_tokens(model="gpt-4o-mini", contents="hello there")
    assert counted.total_tokens is not None and counted.total_tokens > 0
    assert [row["inbound_api"] for row in consume_logs(relay)] == ["gemini", "gemini"]


def test_errors_are_googles(relay: Gateway, mock: OpenAIMock) -> None:
    stranger, sdk = client(relay, key="sk-" + "x" * 48), client(relay)
    with pytest.raises(genai_errors.ClientError) as bad_key:
        stranger.models.generate_content(model="gpt-4o-mini", contents="hi")
    assert bad_key.value.code == 401 and bad_key.value.status == "UNAUTHENTICATED"
    with pytest.raises(genai_errors.ClientError) as missing:
        sdk.models.generate_content(model="no-such-model", contents="hi")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    mock.plan("gpt-4o-mini", status=500)
    with pytest.raises(genai_errors.ServerError):
        sdk.models.generate_content(model="gpt-4o-mini", contents="hi")
    answer = httpx.post(relay.url + "/v1beta/models/gpt-4o-mini:generateContent", content=b"{", timeout=30,
                        headers={"x-goog-api-key": "sk-" + ROOT_TOKEN})
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_translated_failure_mid_stream(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", break_after=3)
    with httpx.stream("POST", f"{relay.url}/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse",
                      json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=30,
                      headers={"x-goog-api-key": "sk-" + ROOT_TOKEN}) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line]
    assert "candidates" in events[0] and set(events[-1]) == {"error"}
    assert (events[-1]["error"]["code"], events[-1]["error"]["status"]) == (502, "INTERNAL")


def test_key_in_the_query(relay: Gateway, mock: OpenAIMock) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(f"{relay.url}/v1beta/models/gpt-4o-mini:generateContent?key=sk-{ROOT_TOKEN}", json=body,
                        timeout=30)
    assert answer.status_code == 200 and answer.json()["candidates"][0]["content"]["parts"] == [
        {"text": "Hello from the mock."}]
    streamed = httpx.post(f"{relay.url}/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse&key=sk-{ROOT_TOKEN}",
                          json=body, timeout=30)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: {") for line in streamed.text.split("\n") if line)


# -- a Gemini channel: passed through ----------------------------------------------------------------------------


@pytest.fixture
def gemini_gw(gateway: Gateway, google: GeminiMock, gemini_server: tuple[GeminiMock, str]) -> Gateway:
    gateway.add_channel(gemini_server[1], type=24, key=GEMINI_KEY, models=f"{FLASH},flash,text-embedding-004",
                        model_mapping={"flash": FLASH})
    return gateway


def test_passthrough_sends_the_body_as_it_came(gemini_gw: Gateway, google: GeminiMock) -> None:
    config = types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.5,
                                         thinking_config=types.ThinkingConfig(thinking_budget=0))
    sdk = client(gemini_gw)
    answer = sdk.models.generate_content(model="flash", contents="hi", config=config)
    assert answer.text == "Hello from Gemini." and answer.response_id == "mockResponseId01"
    seen = google.requests[-1]
    assert (seen.model, seen.action, seen.headers["x-goog-api-key"]) == (FLASH, "generateContent", GEMINI_KEY)
    assert seen.version == "v1beta"  # the API version this model needs upstream, whatever the client used
    assert seen.body["systemInstruction"] == {"parts": [{"text": "Be brief."}], "role": "user"}
    assert seen.body["contents"] == [{"parts": [{"text": "hi"}], "role": "user"}]
    assert seen.body["generationConfig"]["temperature"] == 0.5
    [row] = consume_logs(gemini_gw)
    assert (row["inbound_api"], row["model_name"], row["upstream_model"]) == ("gemini", "flash", FLASH)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (9, 4)


def test_passthrough_stream_and_tools(gemini_gw: Gateway, google: GeminiMock) -> None:
    google.plan(FLASH, function_calls=[{"name": "get_weather", "args": {"city": "Boston"}}], signature="c2ln")
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])],
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    sdk = client(gemini_gw)
    chunks = list(sdk.models.generate_content_stream(model=FLASH, contents="weather?", config=config))
    assert "".join(chunk.text or "" for chunk in chunks if chunk.text) == "Hello from Gemini."
    calls = [call for chunk in chunks for call in chunk.function_calls or ()]
    assert [(call.name, call.args) for call in calls] == [("get_weather", {"city": "Boston"})]
    # Gemini's thought signature, which chat cannot carry, reaches the client.
    parts = [part for chunk in chunks for part in chunk.candidates[0].content.parts]
    assert any(part.thought_signature for part in parts)
    seen = google.requests[-1]
    assert (seen.action, seen.query) == ("streamGenerateContent", "alt=sse")
    assert seen.body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    [row] = consume_logs(gemini_gw)
    assert (row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) == (9, 5, True)  # the last event's


def test_passthrough_embeddings(gemini_gw: Gateway, google: GeminiMock) -> None:
    sdk = client(gemini_gw)
    embedded = sdk.models.embed_content(
        model="text-embedding-004", contents=["one", "three"],
        config=types.EmbedContentConfig(output_dimensionality=2))
    assert embedded.embeddings is not None and [e.values for e in embedded.embeddings] == [[3.0, 0.25], [5.0, 0.25]]
    seen = google.requests[-1]
    assert seen.action == "batchEmbedContents"
    assert [request["model"] for request in seen.body["requests"]] == ["models/text-embedding-004"] * 2
    [row] = consume_logs(gemini_gw)
    assert row["inbound_api"] == "gemini" and row["prompt_tokens"] > 0


def test_passthrough_errors(gemini_gw: Gateway, google: GeminiMock) -> None:
    google.plan(FLASH, status=429, rpc_status="RESOURCE_EXHAUSTED", message="Quota exceeded")
    sdk = client(gemini_gw)
    with pytest.raises(genai_errors.ClientError) as limited:
        sdk.models.generate_content(model=FLASH, contents="hi")
    assert limited.value.code == 429 and "Quota exceeded" in str(limited.value.message)
    google.plan(FLASH, error_after=2)
    with httpx.stream("POST", f"{gemini_gw.url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
                      json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=30,
                      headers={"x-goog-api-key": "sk-" + ROOT_TOKEN}) as response:
        events = [line for line in response.iter_lines() if line]
    assert len(events) == 3 and '"error"' in events[-1] and '"INTERNAL"' in events[-1]


def test_vertex_gemini_passthrough(gateway: Gateway) -> None:
    mock = VertexMock(VERTEX_KEY.public_key())
    server = ServerThread(mock.app(), lifespan="off").start()
    try:
        mock.token_url = server.url + "/token"
        gateway.add_channel(server.url, type=42, key="unused", models="gemini-2.5-flash",
                            config={"region": "europe-west4", "vertex_ai_project_id": "proj-1",
                                    "vertex_ai_adc": account(mock.token_url)})
        sdk = client(gateway)
        assert sdk.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "Hi from Gemini"
        sent: dict[str, Any] = mock.requests[-1]
        assert (sent["action"], sent["body"]) == ("generateContent", {"contents": [{"parts": [{"text": "hi"}],
                                                                                    "role": "user"}]})
        chunks = sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
        assert "".join(chunk.text or "" for chunk in chunks) == "Hi from Gemini"
        assert [(row["prompt_tokens"], row["completion_tokens"]) for row in consume_logs(gateway)] == [(5, 3)] * 2
    finally:
        server.stop()
