"""The relay with channel health, rate limits and metrics wired in, through the official `openai` SDK against mock
upstreams that fail on purpose: revoked keys, 5xx bursts on one model, timeouts, 429 with Retry-After, errors inside
an HTTP 200 stream.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock

REVOKED = {"error": {"message": "Incorrect API key provided: sk-revo***", "type": "invalid_request_error",
                     "param": None, "code": "invalid_api_key"}}
NO_CREDIT = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                       "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
HI = [{"role": "user", "content": "hi"}]


def options(gateway: Gateway, **values: Any) -> None:
    for key, value in values.items():
        gateway.api("PUT", "/api/option/", json={"key": key, "value": str(value).lower()
                                                  if isinstance(value, bool) else str(value)})


def keys_used(mock: OpenAIMock, model: str) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in mock.requests if r.json.get("model") == model]


def test_the_mock_fails_as_planned(mock: OpenAIMock, mock_url: str) -> None:
    """The failure modes these tests rely on: per-key plans, first-N failures, extra headers, errors in a stream."""
    mock.plan("m", status=429, fail_first=2, headers={"Retry-After": "7"}, keys=frozenset({"sk-bad"}))
    url = mock_url + "/v1/chat/completions"

    def call(key: str, **body: Any) -> httpx.Response:
        return httpx.post(url, headers={"Authorization": f"Bearer {key}"}, json={"model": "m", "messages": HI, **body})

    assert call("sk-good").status_code == 200
    first = call("sk-bad")
    assert first.status_code == 429 and first.headers["retry-after"] == "7"
    assert call("sk-bad").status_code == 429 and call("sk-bad").status_code == 200  # recovered after two
    mock.plan("s", stream_error=NO_CREDIT)
    streamed = httpx.post(url, json={"model": "s", "messages": HI, "stream": True})
    assert streamed.status_code == 200 and "insufficient_quota" in streamed.text and "[DONE]" not in streamed.text


def test_a_revoked_key_is_disabled_and_the_healthy_channel_serves(gateway: Gateway, mock: OpenAIMock,
                                                                  mock_url: str) -> None:
    options(gateway, AutomaticDisableChannelEnabled=True, RetryTimes=1)
    mock.plan("gpt-4o-mini", status=401, error=REVOKED, keys=frozenset({"sk-revoked"}))
    revoked = gateway.add_channel(mock_url, key="sk-revoked", models="gpt-4o-mini", priority=10)
    gateway.add_channel(mock_url, key="sk-good", models="gpt-4o-mini", priority=0)
    client = gateway.openai()
    for _ in range(3):  # the client never sees the failure another channel could serve
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content
    assert keys_used(mock, "gpt-4o-mini") == ["sk-revoked", "sk-good", "sk-good", "sk-good"]
    shown = gateway.api("GET", f"/api/channel/{revoked}")
    assert shown["status"] == 3 and "refused the channel's key" in shown["status_reason"]


def test_an_exhausted_account_reported_inside_a_200_stream_is_disabled(gateway: Gateway, mock: OpenAIMock,
                                                                       mock_url: str) -> None:
    options(gateway, AutomaticDisableChannelEnabled=True, RetryTimes=1)
    mock.plan("gpt-4o-mini", stream_error=NO_CREDIT, keys=frozenset({"sk-empty"}))
    empty = gateway.add_channel(mock_url, key="sk-empty", models="gpt-4o-mini", priority=10)
    gateway.add_channel(mock_url, key="sk-good", models="gpt-4o-mini")
    stream = gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "Hello from the mock."
    deadline = time.monotonic() + 10
    while gateway.api("GET", f"/api/channel/{empty}")["status"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "out of credit" in gateway.api("GET", f"/api/channel/{empty}")["status_reason"]


def test_a_model_failing_on_one_channel_steps_aside_and_comes_back(gateway: Gateway, mock: OpenAIMock,
                                                                   mock_url: str) -> None:
    """5xx on one (channel, model) pair: after the threshold that pair gets no calls, the channel's other model
    and the other channel keep serving, and after the cool-down one trial brings it back."""
    options(gateway, RetryTimes=1, ChannelCooldownMinCalls=3, ChannelCooldownSeconds=1)
    mock.plan("gpt-4o-mini", status=500, keys=frozenset({"sk-flaky"}))
    flaky = gateway.add_channel(mock_url, key="sk-flaky", models="gpt-4o-mini,gpt-3.5-turbo")
    gateway.add_channel(mock_url, key="sk-steady", models="gpt-4o-mini,gpt-3.5-turbo")
    client = gateway.openai()
    for _ in range(30):
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content
    to_flaky = keys_used(mock, "gpt-4o-mini").count("sk-flaky")
    assert to_flaky == 3  # the threshold, then nothing while it cools down
    [pair] = gateway.api("GET", "/api/channel/health")["cooling"]
    assert (pair["channel_id"], pair["model"]) == (flaky, "gpt-4o-mini") and "500" in pair["reason"]
    for _ in range(20):
        client.chat.completions.create(model="gpt-3.5-turbo", messages=HI)
    assert "sk-flaky" in keys_used(mock, "gpt-3.5-turbo")  # the channel's other model kept working
    mock.plan("gpt-4o-mini")  # the provider recovers
    time.sleep(1.1)  # let the one-second cool-down pass (not a timing assertion)
    for _ in range(30):
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert keys_used(mock, "gpt-4o-mini").count("sk-flaky") > to_flaky + 5
    assert gateway.api("GET", "/api/channel/health")["cooling"] == []


def test_timeouts_and_429s_count_too(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    gateway = Gateway(settings_for(tmp_path, RELAY_TIMEOUT="1"))
    try:
        options(gateway, RetryTimes=2, ChannelCooldownMinCalls=2)
        mock.plan("slow-model", first_delay=3, keys=frozenset({"sk-slow"}))
        mock.plan("busy-model", status=429, headers={"Retry-After": "30"}, keys=frozenset({"sk-busy"}))
        slow = gateway.add_channel(mock_url, key="sk-slow", models="slow-model", priority=10)
        busy = gateway.add_channel(mock_url, key="sk-busy", models="busy-model", priority=10)
        gateway.add_channel(mock_url, key="sk-ok", models="slow-model,busy-model")
        client = gateway.openai()
        for model in ("slow-model", "busy-model") * 4:
            assert client.chat.completions.create(model=model, messages=HI).choices[0].message.content
        cooling = {(p["channel_id"], p["model"]) for p in gateway.api("GET", "/api/channel/health")["cooling"]}
        assert cooling == {(slow, "slow-model"), (busy, "busy-model")}
    finally:
        gateway.close()


def test_every_candidate_cooling_still_gets_an_answer(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """The least recently failed pair is tried rather than answering 503 at once."""
    options(gateway, ChannelCooldownMinCalls=2, ChannelCooldownSeconds=600)
    mock.plan("gpt-4o-mini", status=500, fail_first=2)
    gateway.add_channel(mock_url, models="gpt-4o-mini")
    client = gateway.openai()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert len(gateway.api("GET", "/api/channel/health")["cooling"]) == 1
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content
    assert gateway.api("GET", "/api/channel/health")["cooling"] == []  # that call was the trial, and it passed


def test_rate_limits_answer_429_with_retry_after(relay: Gateway) -> None:
    gateway = relay
    _, alice = gateway.create_user("alice", quota=10_000_000)
    key = gateway.create_token(alice, rpm_limit=2)
    client = gateway.openai(key)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    response = refused.value.response
    assert response.status_code == 429 and 1 <= int(response.headers["retry-after"]) <= 30
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests" and "RPM" in error["message"]
    options(gateway, GroupRateLimit='{"default": {"user_tpm": 30}}')
    other = gateway.openai(gateway.create_token(alice))
    other.chat.completions.create(model="gpt-4o-mini", messages=HI)  # ~16 tokens used of 30
    other.chat.completions.create(model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.RateLimitError):
        other.chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_metrics_count_calls(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    gateway = Gateway(settings_for(tmp_path, METRICS_TOKEN="scrape"))
    try:
        channel = gateway.add_channel(mock_url, models="gpt-4o-mini")
        client = gateway.openai()
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
        gateway.flush()
        text = httpx.get(gateway.url + "/metrics", headers={"Authorization": "Bearer scrape"}).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        for stream in ("true", "false"):
            labels = (("channel", str(channel)), ("model", "gpt-4o-mini"), ("status", "200"), ("stream", stream))
            assert samples[("tollway_calls_total", labels)] == 1
        assert samples[("tollway_tokens_total", (("kind", "prompt"), ("model", "gpt-4o-mini")))] == 22
        assert samples[("tollway_batch_flush_seconds_count", ())] >= 1
    finally:
        gateway.close()
