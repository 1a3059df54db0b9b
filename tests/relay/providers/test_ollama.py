"""Ollama channels (type 30) end to end: the openai SDK → Tollway → a mock Ollama speaking its native API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.ollama_mock import PNG_1PX, OllamaMock

HI = [{"role": "user", "content": "Why is the sky blue?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                             "parameters": CITY}}]


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[tuple[OllamaMock, str]]:
    mock = OllamaMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def ollama(ollama_server: tuple[OllamaMock, str]) -> OllamaMock:
    ollama_server[0].reset()
    return ollama_server[0]


@pytest.fixture
def gw(gateway: Gateway, ollama: OllamaMock, ollama_server: tuple[OllamaMock, str]) -> Gateway:
    gateway.add_channel(ollama_server[1], type=30, key="proxy-key", models="llama3.2,qwen3,all-minilm,llava,gone")
    return gateway


def last_log(gw: Gateway) -> dict[str, object]:
    gw.flush()
    row: dict[str, object] = gw.api("GET", "/api/log/", params={"type": 2})[0]
    return row


def test_chat_whole_answer_with_provider_usage(gw: Gateway, ollama: OllamaMock) -> None:
    ollama.key = "proxy-key"
    # The mock reports 282 completion tokens, so the call allows at least that many (num_predict is honoured).
    answer = gw.openai().chat.completions.create(model="llama3.2", messages=HI, max_tokens=300, temperature=0.2)
    assert answer.choices[0].message.content == "The sky is blue."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (26, 282)
    sent = ollama.requests[-1]
    assert sent.path == "/api/chat" and sent.headers["authorization"] == "Bearer proxy-key"
    assert sent.json["stream"] is False
    assert sent.json["options"] == {"temperature": 0.2, "num_predict": 300}
    row = last_log(gw)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (26, 282)


def test_stream_with_usage(gw: Gateway, ollama: OllamaMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model="llama3.2", messages=HI, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The sky is blue."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (26, 282)
    assert ollama.requests[-1].json["stream"] is True


def test_stream_is_relayed_incrementally(gw: Gateway, ollama: OllamaMock) -> None:
    gate = threading.Event()
    ollama.plan("llama3.2", gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model="llama3.2", messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()  # the mock holds the rest until the first piece has reached the client
    assert "".join(received) == "The sky is blue."


def test_prompt_cache_hit_counts_the_prompt_locally(gw: Gateway, ollama: OllamaMock) -> None:
    ollama.plan("llama3.2", prompt_eval_count=None, eval_count=5)
    list(gw.openai().chat.completions.create(model="llama3.2", messages=HI, stream=True))
    row = last_log(gw)
    assert row["completion_tokens"] == 5 and isinstance(row["prompt_tokens"], int) and row["prompt_tokens"] > 0


def test_tool_call_whole_and_streamed(gw: Gateway, ollama: OllamaMock) -> None:
    ollama.plan("qwen3", pieces=[], thinking=["The user wants weather."],
                tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}])
    messages = [{"role": "user", "content": "Weather in Tokyo?"}]
    answer = gw.openai().chat.completions.create(model="qwen3", messages=messages, tools=WEATHER)
    call = answer.choices[0].message.tool_calls[0]
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Tokyo"}' and answer.choices[0].finish_reason == "tool_calls"
    assert ollama.requests[-1].json["tools"] == WEATHER
    names, arguments, finish = [], "", None
    for chunk in gw.openai().chat.completions.create(model="qwen3", messages=messages, tools=WEATHER,
                                                     stream=True):
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                names += [delta.function.name] if delta.function and delta.function.name else []
                arguments += (delta.function.arguments or "") if delta.function else ""
            finish = choice.finish_reason or finish
    assert names == ["get_weather"] and arguments == '{"city":"Tokyo"}' and finish == "tool_calls"
    # The tool's answer goes back with the function's name, as Ollama wants it.
    follow_up = [*messages, answer.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    gw.openai().chat.completions.create(model="qwen3", messages=follow_up)
    sent = ollama.requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Tokyo"}}
    assert sent[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}


def test_image_data_url_becomes_base64(gw: Gateway, ollama: OllamaMock) -> None:
    content = [{"type": "text", "text": "What is in this picture?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}}]
    gw.openai().chat.completions.create(model="llava", messages=[{"role": "user", "content": content}])
    assert ollama.requests[-1].json["messages"][0]["images"] == [PNG_1PX]


def test_image_url_is_fetched_and_inlined(tmp_path: Path, ollama: OllamaMock,
                                          ollama_server: tuple[OllamaMock, str]) -> None:
    gateway = Gateway(settings_for(tmp_path, USER_CONTENT_ALLOW_PRIVATE="true"))
    try:
        gateway.add_channel(ollama_server[1], type=30, key="ollama", models="llava")
        content = [{"type": "text", "text": "What is this?"},
                   {"type": "image_url", "image_url": {"url": ollama_server[1] + "/image.png"}}]
        gateway.openai().chat.completions.create(model="llava", messages=[{"role": "user", "content": content}])
        sent = ollama.requests[-1]
        assert sent.json["messages"][0]["images"] == [PNG_1PX]
    finally:
        gateway.close()


def test_embeddings(gw: Gateway, ollama: OllamaMock) -> None:
    # The SDK asks for base64 by default and decodes it; Tollway packs Ollama's floats for it.
    result = gw.openai().embeddings.create(model="all-minilm", input=["hello", "sky"])
    assert [item.index for item in result.data] == [0, 1]
    assert result.data[1].embedding == pytest.approx([0.03, 0.04, 0.05, 0.06], abs=1e-6)
    assert result.usage.prompt_tokens == 8
    assert ollama.requests[-1].path == "/api/embed" and ollama.requests[-1].json["input"] == ["hello", "sky"]
    floats = gw.openai().embeddings.create(model="all-minilm", input="hello", encoding_format="float")
    assert floats.data[0].embedding == [0.05, 0.06, 0.07, 0.08]


def test_completions_use_generate(gw: Gateway, ollama: OllamaMock) -> None:
    answer = gw.openai().completions.create(model="llama3.2", prompt="The sky", max_tokens=10)
    assert answer.choices[0].text == "The sky is blue." and ollama.requests[-1].path == "/api/generate"
    streamed = gw.openai().completions.create(model="llama3.2", prompt="The sky", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "The sky is blue."


def test_unknown_model_is_404(gw: Gateway, ollama: OllamaMock) -> None:
    with pytest.raises(openai.NotFoundError, match="try pulling it first"):
        gw.openai().chat.completions.create(model="gone", messages=HI)


def test_bad_proxy_key_is_401(gw: Gateway, ollama: OllamaMock) -> None:
    ollama.key = "another-key"
    with pytest.raises(openai.AuthenticationError, match="unauthorized"):
        gw.openai().chat.completions.create(model="llama3.2", messages=HI)


def test_error_line_mid_stream_reaches_the_client(gw: Gateway, ollama: OllamaMock) -> None:
    ollama.plan("llama3.2", error_after=2, error="an error was encountered while running the model")
    received = []
    with pytest.raises(openai.APIError, match="an error was encountered while running the model"):
        for chunk in gw.openai().chat.completions.create(model="llama3.2", messages=HI, stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "The sky"
    assert last_log(gw)["completion_tokens"] == 2  # what was delivered is billed


def test_error_line_before_output_fails_over(gw: Gateway, ollama: OllamaMock,
                                             ollama_server: tuple[OllamaMock, str]) -> None:
    ollama.plan("qwen3", error_after=0, error="an error was encountered while running the model")
    with pytest.raises(openai.InternalServerError, match="an error was encountered"):
        list(gw.openai().chat.completions.create(model="qwen3", messages=HI, stream=True))
    # With a retry allowed, the error (sent as the stream's first line, HTTP 200) moves the call to another channel.
    gw.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    fallback = ServerThread(OllamaMock().app(), lifespan="off").start()
    try:
        gw.add_channel(fallback.url, type=30, key="ollama", models="qwen3", priority=-1)
        chunks = list(gw.openai().chat.completions.create(model="qwen3", messages=HI, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The sky is blue."
    finally:
        fallback.stop()


def test_data_url_image_must_be_base64(gw: Gateway, ollama: OllamaMock) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]
    with pytest.raises(openai.BadRequestError, match="base64"):
        gw.openai().chat.completions.create(model="llava", messages=[{"role": "user", "content": content}])
