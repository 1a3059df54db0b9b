"""Vertex AI through Tollway: a service account's token exchanged once, Gemini and Claude, whole and streamed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import Gateway, ServerThread
from tests.upstreams.vertex_mock import VertexMock

HI = [{"role": "user", "content": "hi"}]
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def vertex() -> Iterator[tuple[VertexMock, str]]:
    mock = VertexMock(KEY.public_key())
    server = ServerThread(mock.app(), lifespan="off").start()
    mock.token_url = server.url + "/token"
    yield mock, server.url
    server.stop()


def account(token_uri: str, key: rsa.RSAPrivateKey = KEY) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "proj-from-json", "private_key_id": "k1",
                       "private_key": pem, "client_email": "relay@proj.iam.gserviceaccount.com",
                       "token_uri": token_uri})


@pytest.fixture
def vertex_gateway(gateway: Gateway, vertex: tuple[VertexMock, str]) -> Gateway:
    mock, url = vertex
    gateway.add_channel(url, type=42, key="unused", models="gemini-2.5-flash,claude-sonnet-4-5@20250929",
                        config={"region": "europe-west4", "vertex_ai_project_id": "proj-1",
                                "vertex_ai_adc": account(mock.token_url)})
    return gateway


def test_gemini_whole_and_streamed(vertex_gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    mock = vertex[0]
    answer = vertex_gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI)
    assert answer.choices[0].message.content == "Hi from Gemini" and answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 3)
    sent = mock.requests[-1]
    assert (sent["project"], sent["region"], sent["action"]) == ("proj-1", "europe-west4", "generateContent")
    stream = vertex_gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi from Gemini"
    assert mock.requests[-1]["action"] == "streamGenerateContent" and mock.requests[-1]["query"] == "alt=sse"


def test_claude_whole_and_streamed(vertex_gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    mock = vertex[0]
    model = "claude-sonnet-4-5@20250929"
    answer = vertex_gateway.openai().chat.completions.create(model=model, messages=HI)
    assert answer.choices[0].message.content == "Hi from Claude"
    assert answer.usage is not None and answer.usage.prompt_tokens == 7
    assert mock.requests[-1]["action"] == "rawPredict" and mock.requests[-1]["body"]["max_tokens"] > 0
    stream = vertex_gateway.openai().chat.completions.create(model=model, messages=HI, stream=True,
                                                             stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi from Claude"
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [4]


def test_token_is_exchanged_once(vertex_gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    mock = vertex[0]
    before = mock.exchanges
    for _ in range(3):
        vertex_gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI)
    assert mock.exchanges - before <= 1


def test_stream_is_relayed_incrementally(vertex_gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    mock = vertex[0]
    mock.gate = threading.Event()
    try:
        stream = vertex_gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI, stream=True)
        pieces = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                mock.gate.set()
        assert "".join(pieces) == "Hi from Gemini"
    finally:
        mock.gate = None


def test_a_key_google_does_not_know_is_refused(gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    mock, url = vertex
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway.add_channel(url, type=42, key="unused", models="gemini-2.5-flash",
                        config={"vertex_ai_project_id": "p", "vertex_ai_adc": account(mock.token_url, stranger)})
    with pytest.raises(openai.AuthenticationError, match="Invalid JWT Signature"):
        gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI)


def test_missing_service_account_is_a_clear_error(gateway: Gateway, vertex: tuple[VertexMock, str]) -> None:
    gateway.add_channel(vertex[1], type=42, key="not json", models="gemini-2.5-flash", config={"region": "us-east1"})
    with pytest.raises(openai.InternalServerError, match="service-account JSON"):
        gateway.openai().chat.completions.create(model="gemini-2.5-flash", messages=HI)
