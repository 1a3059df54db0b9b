"""Hostile field types on every relay route get a clear 400 naming the field; nothing is sent, billed or logged."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.harness import Gateway
from tests.relay.test_billing import figures
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-4o-mini", "messages": HI}


def chat(**changes: Any) -> dict[str, Any]:
    return {**CHAT, **changes}


def said(content: Any = None, **fields: Any) -> dict[str, Any]:
    return chat(messages=[{"role": "user", "content": content, **fields}])


def assistant(**fields: Any) -> dict[str, Any]:
    return chat(messages=[*HI, {"role": "assistant", "content": None, **fields}])


# (path, body, param the error must name, a word the message must contain)
HOSTILE: list[tuple[str, dict[str, Any], str, str]] = [
    ("/v1/chat/completions", chat(max_tokens=-1), "max_tokens", "at least 1"),
    ("/v1/chat/completions", chat(max_tokens=0), "max_tokens", "at least 1"),
    ("/v1/chat/completions", chat(max_tokens=1.5), "max_tokens", "integer"),
    ("/v1/chat/completions", chat(max_completion_tokens=-5), "max_completion_tokens", "at least 1"),
    ("/v1/chat/completions", chat(max_tokens=True), "max_tokens", "integer"),
    ("/v1/chat/completions", chat(n=0), "n", "between 1 and 128"),
    ("/v1/chat/completions", chat(n=1000), "n", "between 1 and 128"),
    ("/v1/chat/completions", chat(stream="yes"), "stream", "boolean"),
    ("/v1/chat/completions", chat(stream_options={"include_usage": "yes"}), "stream_options", "include_usage"),
    ("/v1/chat/completions", chat(temperature="hot"), "temperature", "number"),
    ("/v1/chat/completions", chat(presence_penalty=[1]), "presence_penalty", "number"),
    ("/v1/chat/completions", chat(user=5), "user", "string"),
    ("/v1/chat/completions", chat(stop=5), "stop", "string"),
    ("/v1/chat/completions", chat(stop=["a", 5]), "stop", "string"),
    ("/v1/chat/completions", chat(tools=[5]), "tools", "tools[0]"),
    ("/v1/chat/completions", chat(tools=[{"type": "function", "function": 5}]), "tools", "function"),
    ("/v1/chat/completions", chat(tools=[{"type": "function", "function": {"name": 5}}]), "tools", "name"),
    ("/v1/chat/completions", chat(tool_choice=5), "tool_choice", "string or an object"),
    ("/v1/chat/completions", chat(response_format="json"), "response_format", "object"),
    ("/v1/chat/completions", chat(messages=[5]), "messages", "messages[0]"),
    ("/v1/chat/completions", said(5), "messages", "messages[0].content"),
    ("/v1/chat/completions", said({"a": 1}), "messages", "messages[0].content"),
    ("/v1/chat/completions", said([5]), "messages", "content[0]"),
    ("/v1/chat/completions", said([{"type": 5}]), "messages", "content[0]"),
    ("/v1/chat/completions", said([{"type": "text", "text": 5}]), "messages", "content[0].text"),
    ("/v1/chat/completions", said([{"type": "text"}]), "messages", "content[0].text"),
    ("/v1/chat/completions", said([{"type": "image_url", "image_url": 5}]), "messages", "image_url"),
    ("/v1/chat/completions", said([{"type": "image_url", "image_url": {"url": [1]}}]), "messages", "image_url"),
    ("/v1/chat/completions", said([{"type": "input_audio", "input_audio": "x"}]), "messages", "input_audio"),
    ("/v1/chat/completions", said("hi", name=5), "messages", "messages[0].name"),
    ("/v1/chat/completions", assistant(tool_calls=5), "messages", "tool_calls"),
    ("/v1/chat/completions", assistant(tool_calls=[5]), "messages", "tool_calls[0]"),
    ("/v1/chat/completions", assistant(tool_calls=[{"id": "a", "function": 5}]), "messages", "function"),
    ("/v1/chat/completions", assistant(tool_calls=[{"id": 1, "function": {"name": "f"}}]), "messages", ".id"),
    ("/v1/chat/completions", assistant(tool_calls=[{"id": "a", "function": {"name": 5}}]), "messages", "name"),
    ("/v1/chat/completions", assistant(tool_calls=[{"function": {"name": "f", "arguments": 5}}]), "messages",
     "arguments"),
    ("/v1/chat/completions", chat(messages=[*HI, {"role": "tool", "content": "x", "tool_call_id": 5}]), "messages",
     "tool_call_id"),
    ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": {"a": 1}}, "prompt", "string"),
    ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": [1, None]}, "prompt", "token ids"),
    ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "max_tokens": -1}, "max_tokens", "1"),
    ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "best_of": 0}, "best_of", "1"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [{"a": 1}]}, "input", "string"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [[1, "a"]]}, "input", "token ids"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [None]}, "input", "string"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": 5}, "input", "string"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x", "dimensions": -3}, "dimensions", "1"),
    ("/v1/engines/text-embedding-3-small/embeddings", {"input": {"a": 1}}, "input", "string"),
    ("/v1/moderations", {"input": [5]}, "input", "string"),
    ("/v1/moderations", {"input": {"text": "x"}}, "input", "string"),
    ("/v1/images/generations", {"model": "dall-e-3", "prompt": "cat", "size": {"a": 1}}, "size", "string"),
    ("/v1/images/generations", {"model": "dall-e-3", "prompt": "cat", "size": [1024]}, "size", "string"),
    ("/v1/images/generations", {"model": "dall-e-2", "prompt": "cat", "n": True}, "n", "n"),
    ("/v1/images/generations", {"model": "dall-e-2", "prompt": "cat", "n": -2}, "n", "n"),
    ("/v1/images/generations", {"model": "dall-e-3", "prompt": "cat", "quality": {"hd": True}}, "quality", "string"),
    ("/v1/images/generations", {"model": "dall-e-3", "prompt": 5}, "prompt", "prompt"),
    ("/v1/audio/speech", {"model": "tts-1", "input": "hi", "voice": {"name": "alloy"}}, "voice", "string"),
    ("/v1/audio/speech", {"model": "tts-1", "input": ["hi"], "voice": "alloy"}, "input", "input"),
    ("/v1/audio/speech", {"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 100}, "speed", "0.25"),
    ("/v1/audio/speech", {"model": "tts-1", "input": "hi", "voice": "alloy", "speed": "fast"}, "speed", "number"),
]

AUDIO = ("audio.mp3", b"ID3fake-audio", "audio/mpeg")
# (path, form fields, files, param, word)
MULTIPART: list[tuple[str, dict[str, str], list[tuple[str, Any]], str, str]] = [
    ("/v1/audio/transcriptions", {"model": "whisper-1"}, [], "file", "file"),
    ("/v1/audio/transcriptions", {"model": "whisper-1", "file": "not a file"}, [], "file", "file"),
    ("/v1/audio/transcriptions", {"model": "whisper-1"}, [("file", AUDIO), ("file", AUDIO)], "file", "one"),
    ("/v1/audio/transcriptions", {}, [("file", AUDIO), ("model", ("m.txt", b"whisper-1", "text/plain"))], "model",
     "text field"),
    ("/v1/audio/translations", {"model": "whisper-1", "temperature": "warm"}, [("file", AUDIO)], "temperature",
     "number"),
]


@pytest.fixture
def caller(relay: Gateway) -> tuple[Gateway, int, httpx.Client, str]:
    user_id, client = relay.create_user("hostile", quota=1_000_000)
    key = relay.create_token(client, unlimited_quota=False, remain_quota=500_000)
    return relay, user_id, client, key


def test_hostile_json_fields_are_refused(caller: tuple[Gateway, int, httpx.Client, str], mock: OpenAIMock) -> None:
    gateway, user_id, _client, key = caller
    before = figures(gateway, user_id)
    problems = []
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for path, body, param, word in HOSTILE:
            response = http.post(path, json=body)
            error = response.json().get("error", {}) if response.headers.get("content-type") else {}
            if response.status_code != 400 or error.get("param") != param or word not in error.get("message", ""):
                problems.append(f"{path} {str(body)[-90:]}: {response.status_code} {response.text[:160]}")
        for path, fields, files, param, word in MULTIPART:
            response = http.post(path, data=fields, files=files or {"other": ("x.txt", b"x", "text/plain")})
            error = response.json().get("error", {})
            if response.status_code != 400 or error.get("param") != param or word not in error.get("message", ""):
                problems.append(f"{path} {fields} {files}: {response.status_code} {response.text[:160]}")
    assert not problems, "\n".join(problems)
    assert mock.requests == []  # nothing reached the upstream
    assert figures(gateway, user_id) == before  # nothing held, billed or logged


def test_the_sdk_sees_a_bad_request(caller: tuple[Gateway, int, httpx.Client, str], mock: OpenAIMock) -> None:
    gateway, _user_id, _client, key = caller
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.openai(key).chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=-1)
    assert raised.value.param == "max_tokens" and "at least 1" in raised.value.message
    with pytest.raises(openai.BadRequestError) as image_error:
        gateway.openai(key).images.generate(model="dall-e-3", prompt="cat", size={"a": 1})
    assert image_error.value.param == "size"
    assert mock.requests == []


def test_ordinary_shapes_still_pass(caller: tuple[Gateway, int, httpx.Client, str], mock: OpenAIMock,
                                    mock_url: str) -> None:
    """The validation accepts what the OpenAI API accepts: parts, tool calls, token-id inputs, nulls."""
    gateway, _user_id, _client, key = caller
    gateway.add_channel(mock_url, models="text-embedding-3-small", name="embeddings")
    sdk = gateway.openai(key)
    parts = [{"type": "text", "text": "what is this?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]
    calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": parts},
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools,
                                         tool_choice="auto", stop=["\n\n"], max_tokens=50, n=1, temperature=0,
                                         stream_options=None, user="u1")
    assert answer.choices[0].message.content
    sdk.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]])
    sdk.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=256)
