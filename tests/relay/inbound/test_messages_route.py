"""`POST /v1/messages` end to end with the official anthropic SDK: translated for an OpenAI channel, passed through
to Claude channels (Anthropic, Bedrock, Vertex AI), billed and logged like chat, errors as the SDK's own classes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.harness import ROOT_TOKEN, Gateway, ServerThread
from tests.relay.inbound.conftest import consume_logs
from tests.relay.providers.test_vertexai import KEY as VERTEX_KEY
from tests.relay.providers.test_vertexai import account
from tests.upstreams.anthropic_mock import AnthropicMock
from tests.upstreams.aws_mock import ACCESS_KEY, REGION, SECRET_KEY, BedrockMock
from tests.upstreams.openai_mock import OpenAIMock
from tests.upstreams.palm_mock import KEY as PALM_KEY
from tests.upstreams.palm_mock import PaLMMock
from tests.upstreams.vertex_mock import VertexMock

CLAUDE = "claude-sonnet-4-20250514"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"name": "get_weather", "description": "weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PNG = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")).decode()
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}


def client(gateway: Gateway, key: str = "sk-" + ROOT_TOKEN, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=gateway.url, max_retries=0, timeout=30, **options)


def frames(gateway: Gateway, body: dict[str, Any], **headers: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of every frame of a raw Messages stream; each must have its `event:` line."""
    found = []
    with httpx.stream("POST", gateway.url + "/v1/messages", json=body, timeout=30,
                      headers={"x-api-key": "sk-" + ROOT_TOKEN, **headers}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    for frame in raw.strip().split("\n\n"):
        name, data = frame.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        found.append((name[7:], json.loads(data[6:])))
    return found


# -- an OpenAI channel: translated -------------------------------------------------------------------------------


def test_translated_answer_usage_and_log(relay: Gateway, mock: OpenAIMock) -> None:
    answer = client(relay).messages.create(model="gpt-4o-mini", max_tokens=100, system="Be brief.",
                                           messages=HI, stop_sequences=["END"], extra_body={"temperature": 0.5})
    assert [block.type for block in answer.content] == ["text"] and answer.content[0].text == "Hello from the mock."
    assert answer.stop_reason == "end_turn" and answer.model == "gpt-4o-mini"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (11, 5)
    sent = mock.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer sk-mock"
    assert sent.json == {"model": "gpt-4o-mini", "max_tokens": 100, "temperature": 0.5, "stop": ["END"],
                         "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    [row] = consume_logs(relay)
    assert (row["inbound_api"], row["model_name"], row["prompt_tokens"], row["completion_tokens"]) == \
        ("anthropic", "gpt-4o-mini", 11, 5)
    assert row["quota"] > 0 and row["is_stream"] is False


def test_translated_stream_follows_anthropics_events(relay: Gateway, mock: OpenAIMock) -> None:
    with client(relay).messages.stream(model="gpt-4o-mini", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the mock." and final.usage.output_tokens == 5 and final.stop_reason == "end_turn"
    assert mock.requests[-1].json["stream"] is True
    names = [name for name, _ in frames(relay, {"model": "gpt-4o-mini", "max_tokens": 50, "messages": HI,
                                                 "stream": True})]
    assert names == ["message_start", "ping", "content_block_start", *["content_block_delta"] * 5,
                     "content_block_stop", "message_delta", "message_stop"]
    rows = consume_logs(relay)
    assert [(row["inbound_api"], row["is_stream"], row["completion_tokens"]) for row in rows] == \
        [("anthropic", True, 5)] * 2


def test_translated_stream_without_upstream_usage_is_counted(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", usage="never", pieces=["one", " two", " three"])
    with client(relay).messages.stream(model="gpt-4o-mini", max_tokens=100, messages=HI) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 3 and final.usage.input_tokens > 0  # counted by Tollway, as billed
    [row] = consume_logs(relay)
    assert row["completion_tokens"] == 3 and row["prompt_tokens"] == final.usage.input_tokens


def test_a_channel_that_answers_whole_is_replayed_as_a_stream(gateway: Gateway) -> None:
    palm = PaLMMock()
    server = ServerThread(palm.app(), lifespan="off").start()
    try:
        gateway.add_channel(server.url, type=11, key=PALM_KEY, models="PaLM-2")
        with client(gateway).messages.stream(model="PaLM-2", max_tokens=100, messages=HI) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text == "Hello from PaLM." and final.usage.output_tokens == 5 and final.stop_reason == "end_turn"
        [row] = consume_logs(gateway)
        assert (row["inbound_api"], row["is_stream"], row["completion_tokens"]) == ("anthropic", True, 5)
    finally:
        server.stop()


def test_translated_tools_both_ways(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", tool_call=True)
    sdk = client(relay)
    answer = sdk.messages.create(model="gpt-4o-mini", max_tokens=100, messages=HI, tools=[WEATHER],
                                 tool_choice={"type": "any"})
    [use] = answer.content
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Boston"}
    assert use.id == "call_abc123" and answer.stop_reason == "tool_use"
    sent = mock.requests[-1].json
    function = {"name": "get_weather", "description": "weather of a city", "parameters": WEATHER["input_schema"]}
    assert sent["tools"] == [{"type": "function", "function": function}]
    assert sent["tool_choice"] == "required"
    with sdk.messages.stream(model="gpt-4o-mini", max_tokens=100, messages=HI, tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Boston"}
    # The tool's result goes back as a tool message right after the assistant's call.
    mock.plan("gpt-4o-mini")
    followed = sdk.messages.create(model="gpt-4o-mini", max_tokens=100, tools=[WEATHER], messages=[
        *HI, {"role": "assistant", "content": [{"type": "tool_use", "id": "call_abc123", "name": "get_weather",
                                                "input": {"city": "Boston"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc123", "content": "sunny"}]}])
    assert followed.content[0].text == "Hello from the mock."
    messages = mock.requests[-1].json["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Boston"}'}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny"}


def test_translated_image(relay: Gateway, mock: OpenAIMock) -> None:
    client(relay).messages.create(model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "what is this?"}]}])
    content = mock.requests[-1].json["messages"][0]["content"]
    assert content == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                       {"type": "text", "text": "what is this?"}]


def test_count_tokens_is_local(relay: Gateway, mock: OpenAIMock) -> None:
    counted = client(relay).messages.count_tokens(model="gpt-4o-mini", messages=HI, system="Be brief.")
    assert counted.input_tokens > 0 and not mock.requests


def test_errors_are_anthropics(relay: Gateway, mock: OpenAIMock) -> None:
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        client(relay, key="sk-" + "x" * 48).messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI)
    assert bad_key.value.body["error"]["type"] == "authentication_error"
    # No channel for a model: 404 (the SDK retries 5xx, and no channel appears between retries).
    with pytest.raises(anthropic.NotFoundError) as missing:
        client(relay).messages.create(model="no-such-model", max_tokens=10, messages=HI)
    assert missing.value.body["type"] == "error"
    # Chat cannot carry Anthropic's server tools, and only an OpenAI channel serves this model: a 400 naming it.
    with pytest.raises(anthropic.BadRequestError) as refused:
        client(relay).messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI, tools=[WEB_SEARCH])
    assert "web_search_20250305" in refused.value.message and not mock.requests
    mock.plan("gpt-4o-mini", status=500)
    with pytest.raises(anthropic.InternalServerError):
        client(relay).messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI)
    for body in (b"{not json", b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'):
        answer = httpx.post(relay.url + "/v1/messages", content=body, timeout=30,
                            headers={"Authorization": "Bearer sk-" + ROOT_TOKEN})
        assert answer.status_code == 400 and answer.json()["type"] == "error"
        assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer.json()["error"]["message"]
    assert not consume_logs(relay)


def test_token_limits_and_quota(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url)
    _, user = gateway.create_user("alice", quota=10)
    limited = gateway.create_token(user, models="gpt-3.5-turbo")
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client(gateway, key=limited).messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI)
    assert denied.value.body["error"]["type"] == "permission_error"
    poor = gateway.create_token(user)
    with pytest.raises(anthropic.APIStatusError) as broke:
        client(gateway, key=poor).messages.create(model="gpt-4o-mini", max_tokens=1000, messages=HI)
    assert broke.value.status_code == 402 and broke.value.body["error"]["type"] == "billing_error"
    assert not mock.requests


def test_rate_limits_answer_in_anthropics_shape(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url)
    _, user = gateway.create_user("alice", quota=10_000_000)
    sdk = client(gateway, key=gateway.create_token(user, rpm_limit=1))
    sdk.messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as refused:
        sdk.messages.create(model="gpt-4o-mini", max_tokens=10, messages=HI)
    assert refused.value.body["error"]["type"] == "rate_limit_error"
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_failure_mid_stream_is_an_error_event(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", break_after=3)
    found = frames(relay, {"model": "gpt-4o-mini", "max_tokens": 50, "messages": HI, "stream": True})
    assert found[0][0] == "message_start" and found[-1][0] == "error"
    assert found[-1][1]["error"]["type"] in ("api_error", "overloaded_error")
    with pytest.raises(anthropic.APIStatusError), \
            client(relay).messages.stream(model="gpt-4o-mini", max_tokens=50, messages=HI) as stream:
        "".join(stream.text_stream)


def test_mapping_and_retry_before_the_first_byte(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-bad", models="alias", model_mapping={"alias": "gpt-4o-mini"}, priority=5)
    gateway.add_channel(mock_url, key="sk-good", models="alias", model_mapping={"alias": "gpt-4o-mini"})
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    mock.plan("gpt-4o-mini", status=503, keys=frozenset({"sk-bad"}))
    answer = client(gateway).messages.create(model="alias", max_tokens=10, messages=HI)
    assert answer.model == "alias" and answer.content[0].text == "Hello from the mock."
    assert [r.headers["authorization"] for r in mock.requests] == ["Bearer sk-bad", "Bearer sk-good"]
    assert mock.requests[-1].json["model"] == "gpt-4o-mini"
    [row] = consume_logs(gateway)
    assert (row["model_name"], row["upstream_model"], row["inbound_api"]) == ("alias", "gpt-4o-mini", "anthropic")


# -- a Claude channel: passed through ----------------------------------------------------------------------------


@pytest.fixture
def claude_gw(relay: Gateway, claude: AnthropicMock, claude_server: tuple[AnthropicMock, str]) -> Gateway:
    """An OpenAI channel (gpt-4o-mini) and a Claude channel (the Claude model, also under the name `sonnet`)."""
    relay.add_channel(claude_server[1], type=14, key="sk-ant-mock", models=f"{CLAUDE},sonnet",
                      model_mapping={"sonnet": CLAUDE})
    return relay


def test_passthrough_sends_the_body_as_it_came(claude_gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(CLAUDE, cache_read=100)
    body: dict[str, Any] = {"model": "sonnet", "max_tokens": 300, "system": [{"type": "text", "text": "Be brief."}],
                            "messages": HI, "metadata": {"user_id": "u-1"}}
    answer = client(claude_gw).messages.create(**body, extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
                                               extra_body={"top_k": 5})
    body["top_k"] = 5
    # Claude's own answer: its id and usage, untouched.
    assert answer.id == "msg_01T4jd6NyD9xGGtTPDC4ogy5" and answer.content[0].text == "Hello from Claude."
    assert (answer.usage.input_tokens, answer.usage.cache_read_input_tokens) == (21, 100)
    sent = claude.requests[-1]
    assert sent.json == {**body, "model": CLAUDE}  # only the model mapped
    assert sent.headers["x-api-key"] == "sk-ant-mock" and sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert sent.headers["anthropic-version"]
    [row] = consume_logs(claude_gw)
    assert (row["inbound_api"], row["model_name"], row["upstream_model"]) == ("anthropic", "sonnet", CLAUDE)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (121, 4)


def test_passthrough_stream_is_claudes(claude_gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(CLAUDE, tool_call=True, thinking=["Let me", " think."])
    found = frames(claude_gw, {"model": CLAUDE, "max_tokens": 2000, "messages": HI, "stream": True,
                               "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [WEATHER]})
    # Claude's events as it sent them: its ids, pings, signature deltas and all.
    assert found[0][1]["message"]["id"] == "msg_019Q1hrJbZG26Fb9BQhrkHEr"
    kinds = [data.get("delta", {}).get("type") for _, data in found if _ == "content_block_delta"]
    assert "signature_delta" in kinds and "input_json_delta" in kinds and ("ping", {"type": "ping"}) in found
    assert found[-1] == ("message_stop", {"type": "message_stop"})
    with client(claude_gw).messages.stream(model=CLAUDE, max_tokens=100, messages=HI, tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"location": "Paris"}
    assert claude.requests[-1].json["stream"] is True
    rows = consume_logs(claude_gw)
    assert [(row["prompt_tokens"], row["completion_tokens"], row["is_stream"]) for row in rows] == \
        [(21, 11, True)] * 2


def test_server_tools_go_only_to_claude(claude_gw: Gateway, claude: AnthropicMock, mock: OpenAIMock,
                                       mock_url: str) -> None:
    """A call chat cannot carry passes over an OpenAI channel of the same model (even a preferred one), to Claude."""
    claude_gw.add_channel(mock_url, models="sonnet", priority=10)
    answer = client(claude_gw).messages.create(model="sonnet", max_tokens=100, messages=HI, tools=[WEB_SEARCH])
    assert answer.content[0].text == "Hello from Claude."
    assert claude.requests[-1].json["tools"] == [WEB_SEARCH] and not mock.requests


def test_passthrough_errors(claude_gw: Gateway, claude: AnthropicMock) -> None:
    claude.plan(CLAUDE, status=529, error_type="overloaded_error", error_message="Overloaded")
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client(claude_gw).messages.create(model=CLAUDE, max_tokens=10, messages=HI)
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    claude.plan(CLAUDE, error_after=2, error_type="overloaded_error", error_message="Overloaded")
    found = frames(claude_gw, {"model": CLAUDE, "max_tokens": 50, "messages": HI, "stream": True})
    assert found[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert [name for name, _ in found].count("content_block_delta") == 2
    with pytest.raises(anthropic.APIStatusError), \
            client(claude_gw).messages.stream(model=CLAUDE, max_tokens=50, messages=HI) as stream:
        "".join(stream.text_stream)
    # Billed with what Claude said before it failed (its prompt; output comes only with message_delta).
    assert [(row["prompt_tokens"], row["completion_tokens"]) for row in consume_logs(claude_gw)] == [(21, 0)] * 2


def test_error_before_claudes_content_goes_to_another_channel(claude_gw: Gateway, claude: AnthropicMock,
                                                             claude_server: tuple[AnthropicMock, str]) -> None:
    """An error event after message_start but before any content is still a failure another channel may answer."""
    claude_gw.add_channel(claude_server[1], type=14, key="sk-ant-mock", models=CLAUDE, priority=5,
                          model_mapping={CLAUDE: "claude-overloaded"})
    claude_gw.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    claude.plan("claude-overloaded", error_after=0, error_type="overloaded_error", error_message="Overloaded")
    found = frames(claude_gw, {"model": CLAUDE, "max_tokens": 50, "messages": HI, "stream": True})
    assert [data["model"] for data in (r.json for r in claude.requests)] == ["claude-overloaded", CLAUDE]
    assert [name for name, _ in found].count("message_start") == 1 and "error" not in [name for name, _ in found]
    assert found[0][1]["message"]["model"] == CLAUDE


# -- Bedrock and Vertex AI Claude: passed through in their framing -----------------------------------------------


@pytest.fixture(scope="module")
def bedrock_server() -> Iterator[tuple[BedrockMock, str]]:
    mock = BedrockMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


def test_bedrock_takes_the_body_signed_and_streams_claudes_events(
        gateway: Gateway, bedrock_server: tuple[BedrockMock, str]) -> None:
    bedrock, url = bedrock_server
    bedrock.reset()
    gateway.add_channel(url, type=33, key="unused", models="claude-3-haiku-20240307",
                        config=json.dumps({"region": REGION, "ak": ACCESS_KEY, "sk": SECRET_KEY}))
    sdk = client(gateway)
    answer = sdk.messages.create(model="claude-3-haiku-20240307", max_tokens=100, system="Be brief.", messages=HI,
                                 extra_headers={"anthropic-beta": "token-efficient-tools-2025-02-19"})
    assert answer.id == "msg_01T4jd6NyD9xGGtTPDC4ogy5" and answer.content[0].text == "Hello from Claude."
    sent = bedrock.requests[-1]
    assert sent.path == "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke"
    # Bedrock's own framing of the same body: no model or stream, its version, beta flags in the body.
    assert sent.json == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "system": "Be brief.",
                         "anthropic_beta": ["token-efficient-tools-2025-02-19"], "messages": HI}
    bedrock.plan("anthropic.claude-3-haiku-20240307-v1:0", tool_call=True)
    with sdk.messages.stream(model="claude-3-haiku-20240307", max_tokens=100, messages=HI, tools=[WEATHER]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from Claude." and final.content[-1].input == {"location": "Paris"}
    assert bedrock.requests[-1].path.endswith("/invoke-with-response-stream")
    rows = consume_logs(gateway)
    assert [(row["prompt_tokens"], row["completion_tokens"], row["inbound_api"]) for row in rows] == \
        [(21, 9, "anthropic"), (21, 4, "anthropic")]


def test_bedrock_exception_mid_stream_is_an_error_event(gateway: Gateway,
                                                          bedrock_server: tuple[BedrockMock, str]) -> None:
    bedrock, url = bedrock_server
    bedrock.reset()
    bedrock.plan("anthropic.claude-3-haiku-20240307-v1:0", exception=("throttlingException", "Too many requests"),
                 exception_after=2)
    gateway.add_channel(url, type=33, key="unused", models="claude-3-haiku-20240307",
                        config=json.dumps({"region": REGION, "ak": ACCESS_KEY, "sk": SECRET_KEY}))
    found = frames(gateway, {"model": "claude-3-haiku-20240307", "max_tokens": 50, "messages": HI, "stream": True})
    assert [name for name, _ in found].count("content_block_delta") == 2
    assert found[-1] == ("error", {"type": "error", "error": {"type": "rate_limit_error",
                                                               "message": "Too many requests"}})


def test_vertex_claude_passthrough(gateway: Gateway) -> None:
    mock = VertexMock(VERTEX_KEY.public_key())
    server = ServerThread(mock.app(), lifespan="off").start()
    try:
        mock.token_url = server.url + "/token"
        gateway.add_channel(server.url, type=42, key="unused", models="claude-sonnet-4-5@20250929",
                            config={"region": "europe-west4", "vertex_ai_project_id": "proj-1",
                                    "vertex_ai_adc": account(mock.token_url)})
        sdk = client(gateway)
        answer = sdk.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=100, messages=HI)
        assert answer.id == "msg_1" and answer.content[0].text == "Hi from Claude"
        sent = mock.requests[-1]
        assert (sent["action"], sent["model"]) == ("rawPredict", "claude-sonnet-4-5@20250929")
        assert sent["body"] == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 100, "messages": HI}
        with sdk.messages.stream(model="claude-sonnet-4-5@20250929", max_tokens=100, messages=HI) as stream:
            assert "".join(stream.text_stream) == "Hi from Claude"
        assert mock.requests[-1]["action"] == "streamRawPredict" and mock.requests[-1]["body"]["stream"] is True
        assert [(row["prompt_tokens"], row["completion_tokens"]) for row in consume_logs(gateway)] == [(7, 4)] * 2
    finally:
        server.stop()
