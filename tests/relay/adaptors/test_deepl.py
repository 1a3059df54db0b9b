"""The DeepL adaptor as pure translation: target language from the model, the text sent, usage in characters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.deepl import DeepLAdaptor, target_language
from tollway.relay.calls import Call, Mode, parse_json
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = DeepLAdaptor()


def target(model: str = "deepl-zh", base_url: str = "", key: str = "k-123:fx") -> Target:
    channel = ChannelEntry(id=1, type=38, key=key, status=1, name="c", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={}, config={}, system_prompt="")
    return Target(channel, channel_types.get(38), model)


def call(messages: list[dict[str, Any]], model: str = "deepl-zh") -> Call:
    return parse_json(Mode.CHAT, json.dumps({"model": model, "messages": messages}).encode())


@pytest.mark.parametrize("model,language", [
    ("deepl-zh", "ZH"), ("deepl-en", "EN"), ("deepl-ja", "JA"), ("deepl-en-us", "EN-US"), ("deepl-pt-br", "PT-BR"),
    ("deepl", "ZH"),
])
def test_target_language_from_model(model: str, language: str) -> None:
    assert target_language(model) == language


def test_request_sends_the_last_user_message() -> None:
    messages = [{"role": "system", "content": "Translate politely."}, {"role": "user", "content": "Good morning"},
                {"role": "assistant", "content": "早上好"},
                {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world!"}]}]
    request = ADAPTOR.request(call(messages), target("deepl-en-us", base_url="http://127.0.0.1:9/"))
    assert request.url == "http://127.0.0.1:9/v2/translate" and not request.stream
    assert request.headers["Authorization"] == "DeepL-Auth-Key k-123:fx"
    assert json.loads(request.content) == {"text": ["Hello, world!"], "target_lang": "EN-US"}


def test_key_chooses_the_host_without_a_base_url() -> None:
    hi = call([{"role": "user", "content": "hi"}])
    assert ADAPTOR.request(hi, target()).url == "https://api-free.deepl.com/v2/translate"
    assert ADAPTOR.request(hi, target(key="pro-key")).url == "https://api.deepl.com/v2/translate"


def test_nothing_to_translate() -> None:
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(call([{"role": "system", "content": "only instructions"}]), target())
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.request(parse_json(Mode.EMBEDDINGS, b'{"model":"deepl-zh","input":"x"}'), target())
    assert raised.value.retryable


def test_answer_and_character_usage() -> None:
    hello = call([{"role": "user", "content": "Hello, world!"}])
    body = '{"translations":[{"detected_source_language":"EN","text":"你好，世界！"}]}'.encode()
    answer = ADAPTOR.answer(hello, target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "你好，世界！"}
    assert data["model"] == "deepl-zh" and data["choices"][0]["finish_reason"] == "stop"
    # Characters, not bytes: 13 sent, 6 returned.
    assert answer.usage == Usage(13, 6) and data["usage"]["prompt_tokens"] == 13


@pytest.mark.parametrize("status,body,expected,kind,retryable", [
    (403, b'{"message":"Wrong endpoint. Use https://api.deepl.com"}', 401, "authentication_error", True),
    (403, b"", 401, "authentication_error", True),
    (456, b'{"message":"Quota Exceeded"}', 403, "insufficient_quota", True),
    (429, b'{"message":"Too many requests"}', 429, "rate_limit_error", True),
    (400, b'{"message":"Bad request","detail":"Value for \'target_lang\' not supported."}', 400,
     "invalid_request_error", False),
    (503, b'{"message":"Service unavailable"}', 503, "upstream_error", True),
])
def test_errors(status: int, body: bytes, expected: int, kind: str, retryable: bool) -> None:
    error = ADAPTOR.error(status, body)
    assert (error.status_code, error.error_type, error.retryable) == (expected, kind, retryable)
    assert error.message


def test_error_message_keeps_the_detail() -> None:
    error = ADAPTOR.error(400, b'{"message":"Bad request","detail":"Value for \'target_lang\' not supported."}')
    assert error.message == "Bad request: Value for 'target_lang' not supported."


def test_answer_without_translations_is_an_error() -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.answer(call([{"role": "user", "content": "x"}]), target(), 200, "application/json",
                       b'{"message":"Internal error"}')
    assert raised.value.status_code == 502 and raised.value.message == "Internal error"
