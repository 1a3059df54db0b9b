"""DeepL channels (type 38) end to end: the openai SDK → Tollway → a mock DeepL translate API.

DeepL answers whole, so a streaming client gets the translation replayed as chunks: there is nothing
incremental to prove for this provider.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.deepl_mock import KEY, DeepLMock

HELLO = [{"role": "system", "content": "You translate."}, {"role": "user", "content": "Hello, world!"}]


@pytest.fixture(scope="module")
def deepl_server() -> Iterator[tuple[DeepLMock, str]]:
    mock = DeepLMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def deepl(deepl_server: tuple[DeepLMock, str]) -> DeepLMock:
    deepl_server[0].reset()
    return deepl_server[0]


@pytest.fixture
def gw(gateway: Gateway, deepl: DeepLMock, deepl_server: tuple[DeepLMock, str]) -> Gateway:
    gateway.add_channel(deepl_server[1], type=38, key=KEY, models="deepl-zh,deepl-de,deepl-en-us,deepl-xx")
    return gateway


def test_translation_billed_by_characters(gw: Gateway, deepl: DeepLMock) -> None:
    answer = gw.openai().chat.completions.create(model="deepl-zh", messages=HELLO)
    assert answer.choices[0].message.content == "你好，世界！" and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (13, 6)
    sent = deepl.requests[-1]
    assert sent.headers["authorization"] == f"DeepL-Auth-Key {KEY}"
    assert sent.json == {"text": ["Hello, world!"], "target_lang": "ZH"}
    gw.flush()
    row = gw.api("GET", "/api/log/", params={"type": 2})[0]
    # $25 per 1M characters sent (ratio 12.5); the characters returned cost nothing.
    assert (row["prompt_tokens"], row["completion_tokens"], row["quota"]) == (13, 6, math.ceil(13 * 12.5))


def test_stream_is_the_translation_replayed(gw: Gateway, deepl: DeepLMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model="deepl-de", messages=HELLO, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hallo, Welt!"
    assert [c.usage.prompt_tokens for c in chunks if c.usage] == [13]
    assert deepl.requests[-1].json["target_lang"] == "DE" and "stream" not in deepl.requests[-1].json


def test_regional_target_language(gw: Gateway, deepl: DeepLMock) -> None:
    answer = gw.openai().chat.completions.create(model="deepl-en-us",
                                                 messages=[{"role": "user", "content": "Guten Morgen"}])
    assert answer.choices[0].message.content == "Good morning"
    assert deepl.requests[-1].json["target_lang"] == "EN-US"


def test_unsupported_language_is_400(gw: Gateway, deepl: DeepLMock) -> None:
    with pytest.raises(openai.BadRequestError, match="Value for 'target_lang' not supported"):
        gw.openai().chat.completions.create(model="deepl-xx", messages=HELLO)


def test_wrong_key_is_401(gateway: Gateway, deepl: DeepLMock, deepl_server: tuple[DeepLMock, str]) -> None:
    gateway.add_channel(deepl_server[1], type=38, key="not-a-key:fx", models="deepl-zh")
    with pytest.raises(openai.AuthenticationError, match="Authorization failed"):
        gateway.openai().chat.completions.create(model="deepl-zh", messages=HELLO)


def test_used_up_quota_is_403(gw: Gateway, deepl: DeepLMock) -> None:
    deepl.plan.status = 456
    with pytest.raises(openai.PermissionDeniedError, match="Quota Exceeded") as raised:
        gw.openai().chat.completions.create(model="deepl-zh", messages=HELLO)
    assert raised.value.body is not None and raised.value.body["type"] == "insufficient_quota"
