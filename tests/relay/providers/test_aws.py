"""AWS Bedrock Claude channels (type 33) end to end: the openai SDK → Tollway → a mock Bedrock checking SigV4."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.aws_mock import ACCESS_KEY, API_KEY, REGION, SECRET_KEY, BedrockMock

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20241022-v2:0"
MODELS = "claude-3-haiku-20240307,claude-3-5-sonnet-20241022,claude-sonnet-4-20250514,gpt-4o"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}}}}
CONFIG = {"region": REGION, "ak": ACCESS_KEY, "sk": SECRET_KEY}


@pytest.fixture(scope="module")
def bedrock_server() -> Iterator[tuple[BedrockMock, str]]:
    mock = BedrockMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def bedrock(bedrock_server: tuple[BedrockMock, str]) -> BedrockMock:
    bedrock_server[0].reset()
    return bedrock_server[0]


def add(gateway: Gateway, url: str, config: dict[str, Any] = CONFIG, **fields: Any) -> int:
    return gateway.add_channel(url, type=33, key=fields.pop("key", "unused"), models=fields.pop("models", MODELS),
                               config=json.dumps(config), **fields)


@pytest.fixture
def gw(gateway: Gateway, bedrock: BedrockMock, bedrock_server: tuple[BedrockMock, str]) -> Gateway:
    add(gateway, bedrock_server[1])
    return gateway


def logs(gateway: Gateway) -> list[dict[str, Any]]:
    gateway.flush()
    rows: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return rows


def test_invoke_is_signed_and_answers(gw: Gateway, bedrock: BedrockMock) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    answer = gw.openai().chat.completions.create(model="claude-3-5-sonnet-20241022", messages=messages,
                                                 max_tokens=50, user="someone")
    assert answer.choices[0].message.content == "Hello from Claude."
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (21, 4)
    sent = bedrock.requests[-1]
    assert sent.raw_path == f"/model/{SONNET}/invoke"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert sent.json == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "system": "Be brief.",
                         "messages": [{"role": "user", "content": "hi"}]}
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (21, 4)


def test_stream_of_binary_events(gw: Gateway, bedrock: BedrockMock) -> None:
    chunks = list(gw.openai().chat.completions.create(
        model="claude-3-haiku-20240307", messages=HI, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Claude."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (21, 4)
    assert bedrock.requests[-1].raw_path == f"/model/{HAIKU}/invoke-with-response-stream"
    assert "stream" not in bedrock.requests[-1].json


def test_invocation_metrics_bill_a_stream_without_anthropic_usage(gw: Gateway, bedrock: BedrockMock) -> None:
    bedrock.plan(HAIKU, metrics_only=True, input_tokens=33, pieces=["a", "b", "c"])
    list(gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True))
    row = logs(gw)[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (33, 3)


def test_stream_is_relayed_incrementally(gw: Gateway, bedrock: BedrockMock) -> None:
    gate = threading.Event()
    bedrock.plan(HAIKU, gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # were Tollway buffering, the first piece could not arrive before this
    assert "".join(received) == "Hello from Claude."


def test_tool_call_stream_and_whole(gw: Gateway, bedrock: BedrockMock) -> None:
    bedrock.plan(HAIKU, pieces=[], tool_call=True)
    client = gw.openai()
    stream = client.chat.completions.create(model="claude-3-haiku-20240307", messages=HI, tools=[WEATHER],
                                            stream=True)
    deltas = [call for chunk in stream if chunk.choices for call in chunk.choices[0].delta.tool_calls or []]
    assert deltas[0].id == "toolu_01NRLabsLyVHZPKxbKvkfSMn" and deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == '{"location": "Paris"}'
    answer = client.chat.completions.create(model="claude-3-haiku-20240307", messages=HI, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.choices[0].message.tool_calls is not None
    assert bedrock.requests[-1].json["tools"][0]["name"] == "get_weather"


def test_image_in_the_message(gw: Gateway, bedrock: BedrockMock) -> None:
    content = [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {
        "url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}}]
    messages = [{"role": "user", "content": content}]
    gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=messages)
    assert bedrock.requests[-1].json["messages"][0]["content"][1] == {
        "type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}}


def test_inference_profile_through_model_mapping(gateway: Gateway, bedrock: BedrockMock,
                                                 bedrock_server: tuple[BedrockMock, str]) -> None:
    add(gateway, bedrock_server[1], models="claude-sonnet-4",
        model_mapping=json.dumps({"claude-sonnet-4": "us.anthropic.claude-sonnet-4-20250514-v1:0"}))
    answer = gateway.openai().chat.completions.create(model="claude-sonnet-4", messages=HI)
    assert answer.choices[0].message.content == "Hello from Claude."
    assert bedrock.requests[-1].raw_path == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke"


def test_bedrock_api_key(gateway: Gateway, bedrock: BedrockMock, bedrock_server: tuple[BedrockMock, str]) -> None:
    add(gateway, bedrock_server[1], config={"region": REGION}, key=API_KEY)
    gateway.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI)
    assert bedrock.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


def test_wrong_secret_is_refused_by_the_signature_check(gateway: Gateway, bedrock: BedrockMock,
                                                        bedrock_server: tuple[BedrockMock, str]) -> None:
    add(gateway, bedrock_server[1], config={**CONFIG, "sk": "not-the-secret"})
    with pytest.raises(openai.AuthenticationError, match="signature we calculated does not match"):
        gateway.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI)


def test_unknown_access_key_and_wrong_region(gateway: Gateway, bedrock: BedrockMock,
                                             bedrock_server: tuple[BedrockMock, str]) -> None:
    channel = add(gateway, bedrock_server[1], config={**CONFIG, "ak": "AKIAUNKNOWN"})
    with pytest.raises(openai.AuthenticationError, match="security token included in the request is invalid"):
        gateway.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI)
    gateway.api("PUT", "/api/channel/", json={"id": channel, "config": json.dumps({**CONFIG, "region": "eu-west-1"})})
    with pytest.raises(openai.AuthenticationError, match="scoped to a valid region"):
        gateway.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI)
    assert "/eu-west-1/bedrock/" in bedrock.requests[-1].headers["authorization"]


def test_throttling(gw: Gateway, bedrock: BedrockMock) -> None:
    bedrock.plan(HAIKU, http_error=(429, "ThrottlingException", "Too many requests, please wait before trying again."))
    with pytest.raises(openai.RateLimitError, match="Too many requests"):
        gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI)


def test_unsupported_model_fails_over(gw: Gateway, bedrock: BedrockMock) -> None:
    with pytest.raises(openai.BadRequestError, match="no Bedrock model id"):
        gw.openai().chat.completions.create(model="gpt-4o", messages=HI)
    assert bedrock.requests == []


def test_exception_frame_first_goes_to_another_channel(gw: Gateway, bedrock: BedrockMock,
                                                       bedrock_server: tuple[BedrockMock, str]) -> None:
    bedrock.plan(HAIKU, exception=("throttlingException", "Too many tokens, please wait before trying again."))
    with pytest.raises(openai.RateLimitError, match="Too many tokens"):
        list(gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True))
    add(gw, bedrock_server[1], priority=-1, model_mapping=json.dumps({"claude-3-haiku-20240307":
                                                                     "claude-3-5-sonnet-20241022"}))
    gw.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    stream = gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from Claude."


def test_exception_frame_mid_stream_reaches_the_client(gw: Gateway, bedrock: BedrockMock) -> None:
    bedrock.plan(HAIKU, exception=("modelStreamErrorException", "The model stream broke."), exception_after=2)
    received = []
    with pytest.raises(openai.APIError, match="The model stream broke"):
        for chunk in gw.openai().chat.completions.create(model="claude-3-haiku-20240307", messages=HI,
                                                         stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "Hello from"
