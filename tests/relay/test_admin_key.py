"""The relay as FastGPT uses it in AI Proxy mode: ADMIN_KEY as the relay key, `Aiproxy-Channel`, a usage chunk at the
end of every stream, `reasoning_content`, embeddings as floats or base64, BILLING_ENABLED and RETRY_TIMES."""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.admin.support import dicts, row
from tests.harness import Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock

ADMIN_KEY = "relay-admin-key-5b2e"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fastgpt_relay(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> Iterator[Gateway]:
    """A gateway with FastGPT's AI Proxy settings and one OpenAI channel on the mock."""
    gateway = Gateway(settings_for(tmp_path, ADMIN_KEY=ADMIN_KEY, RETRY_TIMES="3", BILLING_ENABLED="false",
                                   LOG_DETAIL_STORAGE_HOURS="1", DISABLE_MODEL_CONFIG="true"))
    gateway.add_channel(mock_url, models="gpt-4o-mini,deepseek-r1,text-embedding-3-small")
    yield gateway
    gateway.close()


def admin(gateway: Gateway, **kwargs: Any) -> openai.OpenAI:
    """FastGPT's client: AIPROXY_API_TOKEN as the API key, `${AIPROXY_API_ENDPOINT}/v1` as base URL."""
    return gateway.openai(ADMIN_KEY, **kwargs)


def test_the_admin_key_is_roots_unlimited_key(fastgpt_relay: Gateway, mock: OpenAIMock,
                                              caplog: pytest.LogCaptureFixture) -> None:
    gateway = fastgpt_relay
    gateway.api("PUT", "/api/user/", json={"id": 1, "quota": 0})  # root has nothing left
    caplog.set_level(logging.DEBUG)
    for key in (ADMIN_KEY, f"sk-{ADMIN_KEY}"):
        answer = gateway.openai(key).chat.completions.create(model="gpt-4o-mini", messages=HI)
        assert answer.choices[0].message.content == "Hello from the mock."
    gateway.flush()
    logs = dicts(gateway, "SELECT user_id, username, token_name, quota, code FROM logs WHERE type = 2")
    assert logs == [{"user_id": 1, "username": "root", "token_name": "ADMIN_KEY", "quota": 0, "code": 200}] * 2
    assert ADMIN_KEY not in caplog.text
    assert not dicts(gateway, "SELECT id FROM logs WHERE content LIKE ?", f"%{ADMIN_KEY}%")
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(ADMIN_KEY + "x").chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_without_admin_key_it_is_an_unknown_key(gateway: Gateway, mock_url: str) -> None:
    gateway.add_channel(mock_url)
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(ADMIN_KEY).chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_aiproxy_channel_pins_even_a_disabled_channel(fastgpt_relay: Gateway, mock: OpenAIMock,
                                                      mock_url: str) -> None:
    """FastGPT's model test: `Aiproxy-Channel: <id>`, also for a disabled channel that lists the model."""
    gateway = fastgpt_relay
    pinned = gateway.add_channel(mock_url, key="sk-pinned", models="gpt-4o-mini", priority=-5)
    gateway.api("PUT", "/api/channel/", json={"id": pinned, "status": 2})
    client = admin(gateway, default_headers={"Aiproxy-Channel": str(pinned)})
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert mock.requests[-1].headers["authorization"] == "Bearer sk-pinned"
    with pytest.raises(openai.APIStatusError) as missing:
        client.chat.completions.create(model="deepseek-r1", messages=HI)  # the channel does not list it
    assert "not found for model" in missing.value.message
    user_key = gateway.create_token(gateway.admin)  # root's own token is no admin key
    with pytest.raises(openai.PermissionDeniedError):
        gateway.openai(user_key, default_headers={"Aiproxy-Channel": str(pinned)}).chat.completions.create(
            model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.BadRequestError):
        admin(gateway, default_headers={"Aiproxy-Channel": "x1"}).chat.completions.create(model="gpt-4o-mini",
                                                                                        messages=HI)


def test_the_admin_key_reaches_every_groups_channels(fastgpt_relay: Gateway, mock: OpenAIMock,
                                                     mock_url: str) -> None:
    gateway = fastgpt_relay
    gateway.add_channel(mock_url, key="sk-vip", models="vip-model", group="vip")
    gateway.api("PUT", "/api/channel/", json={"id": 2, "model_mapping": {"vip-model": "gpt-4o-mini"}})
    admin(gateway).chat.completions.create(model="vip-model", messages=HI)
    assert mock.requests[-1].headers["authorization"] == "Bearer sk-vip"


@pytest.mark.parametrize("channel_type", [1, 8])  # OpenAI reports usage when asked; Custom is counted locally
def test_streams_of_the_admin_key_end_with_usage(fastgpt_relay: Gateway, mock: OpenAIMock, mock_url: str,
                                                 channel_type: int) -> None:
    """FastGPT never sends stream_options yet reads `usage` from the last chunk."""
    gateway = fastgpt_relay
    gateway.api("DELETE", "/api/channel/1")
    gateway.add_channel(mock_url, type=channel_type, models="gpt-4o-mini")
    chunks = list(admin(gateway).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert "stream_options" not in mock.requests[-1].json or channel_type == 1
    user_key = gateway.create_token(gateway.admin)
    plain = list(gateway.openai(user_key).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert all(chunk.usage is None for chunk in plain) or channel_type == 1
    gateway.api("PUT", "/api/option/", json={"key": "StreamUsageAlways", "value": "true"})
    forced = list(gateway.openai(user_key).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert forced[-1].usage is not None and forced[-1].usage.prompt_tokens > 0


def test_reasoning_content_passes_through(fastgpt_relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("deepseek-r1", reasoning=["Think", "ing."], pieces=["Answer."])
    whole = admin(fastgpt_relay).chat.completions.create(model="deepseek-r1", messages=HI)
    assert whole.choices[0].message.model_extra == {"reasoning_content": "Thinking."}
    assert whole.choices[0].message.content == "Answer."
    stream = admin(fastgpt_relay).chat.completions.create(model="deepseek-r1", messages=HI, stream=True)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in stream
                        if c.choices)
    assert reasoning == "Thinking."


def test_embeddings_as_floats_and_as_base64(fastgpt_relay: Gateway, mock: OpenAIMock) -> None:
    client = admin(fastgpt_relay)
    floats = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    assert [item.embedding for item in floats.data] == [pytest.approx([0.1, -0.2, 0.3])] * 2
    assert mock.requests[-1].json["encoding_format"] == "float"
    # FastGPT MAIN decodes a base64 string itself (float32 little-endian), as the SDK does by default.
    raw = httpx.post(f"{fastgpt_relay.url}/v1/embeddings", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                     json={"model": "text-embedding-3-small", "input": ["a"], "encoding_format": "base64"}).json()
    vector = struct.unpack("<3f", base64.b64decode(raw["data"][0]["embedding"]))
    assert vector == pytest.approx((0.1, -0.2, 0.3)) and raw["usage"]["total_tokens"] == 8
    decoded = client.embeddings.create(model="text-embedding-3-small", input=["a"])  # the SDK asks for base64
    assert decoded.data[0].embedding == pytest.approx([0.1, -0.2, 0.3])


def test_billing_disabled_charges_nothing(fastgpt_relay: Gateway, mock: OpenAIMock) -> None:
    gateway = fastgpt_relay
    user_id, client = gateway.create_user("carol", quota=1000)
    key = gateway.create_token(client)
    gateway.openai(key).chat.completions.create(model="gpt-4o-mini", messages=HI)
    gateway.flush()
    assert row(gateway, "users", user_id)["quota"] == 1000
    [logged] = dicts(gateway, "SELECT quota, prompt_tokens, completion_tokens FROM logs WHERE user_id = ? AND type = 2",
                      user_id)
    assert logged == {"quota": 0, "prompt_tokens": 11, "completion_tokens": 5}


def test_retry_times_from_the_environment(fastgpt_relay: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """RETRY_TIMES=3 wins over the RetryTimes option (0), as AI Proxy's environment does."""
    gateway = fastgpt_relay
    gateway.api("DELETE", "/api/channel/1")
    gateway.add_channel(mock_url, key="sk-bad", models="flaky", priority=10)
    good = gateway.add_channel(mock_url, key="sk-good", models="flaky", priority=0)
    gateway.api("PUT", "/api/channel/", json={"id": good, "model_mapping": {"flaky": "gpt-4o-mini"}})
    mock.plan("flaky", status=503)
    answer = admin(gateway).chat.completions.create(model="flaky", messages=HI)
    assert answer.choices[0].message.content == "Hello from the mock."
    gateway.flush()
    logged = dicts(gateway, "SELECT type, code, retry_times FROM logs WHERE type IN (2, 6) ORDER BY id")
    assert logged == [{"type": 6, "code": 503, "retry_times": 0}, {"type": 2, "code": 200, "retry_times": 1}]
