"""Chat completions through Tollway with the official openai SDK: answers, streams, tools and framing."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]


def test_non_stream_answer_and_usage(relay: Gateway, mock: OpenAIMock) -> None:
    answer = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert answer.choices[0].message.content == "Hello from the mock."
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (11, 5)
    sent = mock.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-mock"
    assert sent.path == "/v1/chat/completions"


def test_every_field_passes_through_unchanged(relay: Gateway, mock: OpenAIMock) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]}]
    relay.openai().chat.completions.create(
        model="gpt-4o-mini", messages=messages, n=2, temperature=0.3, seed=7,
        extra_body={"vendor_flag": {"nested": True}},
    )
    body = mock.requests[-1].json
    assert body["messages"] == messages
    assert body["n"] == 2 and body["seed"] == 7 and body["temperature"] == 0.3
    assert body["vendor_flag"] == {"nested": True}


def test_stream_text_and_done(relay: Gateway, mock: OpenAIMock) -> None:
    stream = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from the mock."
    # Tollway asks OpenAI channels for usage so billing uses the provider's count.
    assert mock.requests[-1].json["stream_options"] == {"include_usage": True}


def _raw_stream(gateway: Gateway, body: dict[str, object]) -> list[str]:
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": "Bearer sk-" + "R" * 48}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        return [line for line in response.iter_lines() if line]


def test_stream_framing_is_openai_sse(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", crlf=True, no_space=True, send_done=False, azure_preamble=True)
    lines = _raw_stream(relay, {"model": "gpt-4o-mini", "messages": HI, "stream": True})
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert lines.count("data: [DONE]") == 1
    # Azure's preamble (no choices, empty id) never reaches the client.
    assert not any('"id": ""' in line or '"id":""' in line for line in lines)


def test_stream_usage_when_asked(relay: Gateway, mock: OpenAIMock) -> None:
    stream = relay.openai().chat.completions.create(
        model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True})
    usage = [chunk.usage for chunk in stream if chunk.usage]
    assert len(usage) == 1 and usage[0].completion_tokens == 5


@pytest.mark.parametrize("placement", ["finish", "in_choice", "every"])
def test_stream_usage_in_provider_places(relay: Gateway, mock: OpenAIMock, placement: str) -> None:
    """DeepSeek, Moonshot and SiliconFlow put usage elsewhere; billing still uses their figures."""
    mock.plan("gpt-4o-mini", usage=placement, prompt_tokens=23)
    list(relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    relay.flush()
    log = relay.api("GET", "/api/log/", params={"type": 2})[0]
    assert (log["prompt_tokens"], log["completion_tokens"]) == (23, 5)


def test_stream_without_usage_counts_locally(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", usage="never", pieces=["one", " two", " three"])
    stream = relay.openai().chat.completions.create(
        model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    usage = [c.usage for c in chunks if c.usage]
    # The client asked for usage; the upstream sent none, so Tollway sends its own count (o200k_base).
    assert len(usage) == 1 and usage[0].completion_tokens == 3 and usage[0].prompt_tokens > 0
    relay.flush()
    log = relay.api("GET", "/api/log/", params={"type": 2})[0]
    assert log["completion_tokens"] == 3 and log["is_stream"] is True


def test_tool_calls_non_stream(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", tool_call=True)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    answer = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, tools=tools)
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Boston"}'
    assert answer.choices[0].finish_reason == "tool_calls"
    assert mock.requests[-1].json["tools"] == tools


def test_tool_call_deltas_stream(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", tool_call=True)
    stream = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    arguments, names = "", []
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                names += [call.function.name] if call.function and call.function.name else []
                arguments += call.function.arguments or "" if call.function else ""
    assert names == ["get_weather"] and arguments == '{"city":"Boston"}'


def test_stream_is_relayed_incrementally(relay: Gateway, mock: OpenAIMock) -> None:
    """The upstream holds the stream after its first chunk; the client must see that chunk meanwhile."""
    gate = threading.Event()
    mock.plan("gpt-4o-mini", gate=gate)
    stream = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    received = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            # Were Tollway buffering, this first piece could not arrive before the gate opens.
            gate.set()
    assert "".join(received) == "Hello from the mock."


def test_upstream_error_inside_stream_is_forwarded(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", break_after=2)
    stream = relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)
    relay.flush()
    # What was delivered before the break is billed once.
    logs = relay.api("GET", "/api/log/", params={"type": 2})
    assert len(logs) == 1


def test_legacy_completions(relay: Gateway, mock: OpenAIMock) -> None:
    answer = relay.openai().completions.create(model="gpt-3.5-turbo", prompt="Say hi")
    assert answer.choices[0].text == "Hello from the mock."
    assert mock.requests[-1].path == "/v1/completions"
