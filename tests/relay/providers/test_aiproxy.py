"""AI Proxy Library channels (type 21) end to end: the openai SDK → Tollway → a mock AI Proxy knowledge base."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.aiproxy_mock import KEY, LIBRARY, AIProxyMock

ASK = [{"role": "user", "content": "How do I start it?"}]
REFERENCES = ("\n\n参考文档：\n1. [Installing Tollway](https://docs.example/install)\n"
              "2. [Channels](https://docs.example/channels)\n")


@pytest.fixture(scope="module")
def aiproxy_server() -> Iterator[tuple[AIProxyMock, str]]:
    mock = AIProxyMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def library(aiproxy_server: tuple[AIProxyMock, str]) -> AIProxyMock:
    aiproxy_server[0].reset()
    return aiproxy_server[0]


@pytest.fixture
def gw(gateway: Gateway, library: AIProxyMock, aiproxy_server: tuple[AIProxyMock, str]) -> Gateway:
    gateway.add_channel(aiproxy_server[1], type=21, key=KEY, models="gpt-3.5-turbo",
                        config={"library_id": LIBRARY})
    return gateway


def test_answer_with_reference_documents(gw: Gateway, library: AIProxyMock) -> None:
    answer = gw.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK)
    assert answer.choices[0].message.content == "Run `tollway serve`." + REFERENCES
    sent = library.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {"model": "gpt-3.5-turbo", "query": "How do I start it?", "libraryId": LIBRARY,
                         "stream": False}
    gw.flush()
    row = gw.api("GET", "/api/log/", params={"type": 2})[0]
    assert row["completion_tokens"] > 0 and row["prompt_tokens"] > 0  # the library reports none: counted locally


def test_stream_ends_with_the_documents(gw: Gateway, library: AIProxyMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Run `tollway serve`." + REFERENCES
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_stream_is_relayed_incrementally(gw: Gateway, library: AIProxyMock) -> None:
    gate = threading.Event()
    library.plan.gate = gate
    received = []
    for chunk in gw.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert received[0] == "Run " and "".join(received).startswith("Run `tollway serve`.")


def test_bad_key_sent_with_200_is_401(gateway: Gateway, library: AIProxyMock,
                                      aiproxy_server: tuple[AIProxyMock, str]) -> None:
    gateway.add_channel(aiproxy_server[1], type=21, key="wrong", models="gpt-3.5-turbo",
                        config={"library_id": LIBRARY})
    with pytest.raises(openai.AuthenticationError, match="invalid key"):
        gateway.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK)
    with pytest.raises(openai.AuthenticationError, match="invalid key"):
        list(gateway.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK, stream=True))


def test_unknown_library_is_a_clear_error(gateway: Gateway, library: AIProxyMock,
                                          aiproxy_server: tuple[AIProxyMock, str]) -> None:
    gateway.add_channel(aiproxy_server[1], type=21, key=KEY, models="gpt-3.5-turbo",
                        config={"library_id": "lib-gone"})
    with pytest.raises(openai.APIStatusError, match="library not found") as raised:
        gateway.openai().chat.completions.create(model="gpt-3.5-turbo", messages=ASK)
    assert raised.value.status_code == 502
