"""Routing and retries: priority tiers, weights, RetryTimes on another channel, never after a client error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.harness import Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]


def keys_used(mock: OpenAIMock) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in mock.requests]


def set_retries(gateway: Gateway, times: int) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": str(times)})


def test_highest_priority_tier_serves_first(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-low", priority=0)
    gateway.add_channel(mock_url, key="sk-high", priority=10)
    for _ in range(5):
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert set(keys_used(mock)) == {"sk-high"}


def test_weights_share_traffic_inside_a_tier(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-light", weight=1)
    gateway.add_channel(mock_url, key="sk-heavy", weight=9)
    for _ in range(200):
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    counts = Counter(keys_used(mock))
    # Expected 20 vs 180; the bounds are far outside chance (binomial sd ≈ 4.2).
    assert 2 <= counts["sk-light"] <= 50 and counts["sk-heavy"] >= 150


@pytest.mark.parametrize("status", [500, 502, 429, 401])
def test_retry_moves_to_another_channel(gateway: Gateway, mock: OpenAIMock, mock_url: str, status: int) -> None:
    mock.keys = {"sk-good"} if status == 401 else None
    bad = gateway.add_channel(mock_url, key="sk-bad", priority=10, models="flaky")
    good = gateway.add_channel(mock_url, key="sk-good", priority=0, models="flaky")
    if status != 401:
        # The mock fails by model; the good channel maps the model to one that works.
        mock.plan("flaky", status=status)
        gateway.api("PUT", "/api/channel/", json={"id": good, "model_mapping": {"flaky": "gpt-4o-mini"}})
    set_retries(gateway, 2)
    answer = gateway.openai().chat.completions.create(model="flaky", messages=HI)
    assert answer.choices[0].message.content == "Hello from the mock."
    assert keys_used(mock) == ["sk-bad", "sk-good"]
    gateway.flush()
    logs = gateway.api("GET", "/api/log/", params={"type": 2})
    assert len(logs) == 1 and logs[0]["channel"] == good and bad != good


def test_no_retry_without_retry_times(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-bad", priority=10)
    gateway.add_channel(mock_url, key="sk-good")
    mock.plan("gpt-4o-mini", status=500)
    with pytest.raises(openai.InternalServerError):
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert keys_used(mock) == ["sk-bad"]


def test_never_retry_a_bad_request(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-a", priority=10)
    gateway.add_channel(mock_url, key="sk-b")
    set_retries(gateway, 3)
    mock.plan("gpt-4o-mini", status=400)
    with pytest.raises(openai.BadRequestError):
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert len(mock.requests) == 1


def test_retry_after_connection_error(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel("http://127.0.0.1:9", key="sk-dead", priority=10)
    gateway.add_channel(mock_url, key="sk-alive")
    set_retries(gateway, 1)
    gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert keys_used(mock) == ["sk-alive"]


def test_retry_after_timeout(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    gateway = Gateway(settings_for(tmp_path, RELAY_TIMEOUT=1))
    try:
        gateway.add_channel(mock_url, key="sk-slow", priority=10, models="slow")
        fast = gateway.add_channel(mock_url, key="sk-fast", models="slow")
        gateway.api("PUT", "/api/channel/", json={"id": fast, "model_mapping": {"slow": "gpt-4o-mini"}})
        mock.plan("slow", first_delay=3)
        set_retries(gateway, 1)
        gateway.openai().chat.completions.create(model="slow", messages=HI)
        assert keys_used(mock) == ["sk-slow", "sk-fast"]
    finally:
        gateway.close()


def test_stream_retries_before_the_first_byte(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-bad", priority=10, models="flaky")
    good = gateway.add_channel(mock_url, key="sk-good", models="flaky")
    gateway.api("PUT", "/api/channel/", json={"id": good, "model_mapping": {"flaky": "gpt-4o-mini"}})
    mock.plan("flaky", status=503)
    set_retries(gateway, 1)
    stream = gateway.openai().chat.completions.create(model="flaky", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from the mock."


def test_disabled_channels_are_not_routed(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    channel = gateway.add_channel(mock_url, key="sk-off")
    gateway.api("PUT", "/api/channel/", json={"id": channel, "status": 2})
    with pytest.raises(openai.InternalServerError) as raised:
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert raised.value.status_code == 503


def test_groups_select_channels(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, key="sk-vip", group="vip")
    _, client = gateway.create_user("vera", quota=10_000_000, group="vip")
    gateway.openai(gateway.create_token(client)).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert keys_used(mock) == ["sk-vip"]
    with pytest.raises(openai.InternalServerError, match="default"):
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_model_mapping_and_system_prompt(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, models="my-alias", model_mapping={"my-alias": "gpt-4o-mini"},
                        system_prompt="You are terse.")
    messages = [{"role": "system", "content": "You are chatty."}, {"role": "user", "content": "hi"}]
    gateway.openai().chat.completions.create(model="my-alias", messages=messages)
    sent = mock.requests[-1].json
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
    gateway.flush()
    log = gateway.api("GET", "/api/log/", params={"type": 2})[0]
    assert log["model_name"] == "my-alias" and log["system_prompt_reset"] is True
    assert "mapped to gpt-4o-mini" in log["content"]
