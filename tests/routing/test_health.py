"""Channel health in a running gateway: fatal errors disable a channel (reason, time, root's mail), pairs that
cool down are listed by the API and cleared, operators' choices win, and passing tests bring things back.

The relay's calls to `health.failed` / `health.succeeded` are made here directly on the gateway's event loop, as
the pipeline makes them after each attempt (tests/relay/test_health_wiring.py covers the wired relay).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.accounts.conftest import configure, smtp, smtp_server
from tests.admin.support import PASSWORD, data, refused, row, rows
from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock
from tests.upstreams.smtp import SmtpServer, SmtpSink
from tollway.errors import UpstreamError
from tollway.routing.health import Health
from tollway.storage import writes

__all__ = ["smtp", "smtp_server"]

REVOKED = UpstreamError("Incorrect API key provided: sk-abc***", status_code=401, error_type="invalid_request_error",
                        code="invalid_api_key", retryable=True)
SERVER_ERROR = UpstreamError("mock failure 500", status_code=500, error_type="server_error", code="upstream_500",
                             retryable=True)


def health_of(gateway: Gateway) -> Health:
    return gateway.services.guards.health


def report(gateway: Gateway, channel_id: int, model: str, error: UpstreamError, times: int = 1) -> None:
    """Report failed attempts the way the pipeline does, on the gateway's loop."""
    health = health_of(gateway)

    async def failed() -> None:
        for _ in range(times):
            health.failed(gateway.services.cache.channels[channel_id], model, error)

    gateway.server.run(failed())


def wait_until(check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def alice(gateway: Gateway) -> Iterator[httpx.Client]:
    _, client = gateway.create_user("alice", quota=1000, password=PASSWORD)
    yield client
    client.close()


def test_a_revoked_key_disables_the_channel_with_its_reason_and_mails_root(
        gateway: Gateway, mock_url: str, smtp_server: SmtpServer, smtp: SmtpSink) -> None:
    configure(gateway, SMTPServer="127.0.0.1", SMTPPort=smtp_server.port, SMTPFrom="noreply@tollway.test",
              AutomaticDisableChannelEnabled="true")
    gateway.server.run(writes.update_user(gateway.services.keeper, 1, {"email": "root@tollway.test"}))
    channel = gateway.add_channel(mock_url, name="revoked", models="gpt-4o-mini")
    healthy = gateway.add_channel(mock_url, name="healthy", models="gpt-4o-mini")
    before = int(time.time())
    report(gateway, channel, "gpt-4o-mini", REVOKED, times=3)
    wait_until(lambda: gateway.services.cache.channels[channel].status == 3)
    shown = data(gateway.admin.get(f"/api/channel/{channel}"))
    assert shown["status"] == 3 and shown["status_time"] >= before
    assert shown["status_reason"] == "the upstream refused the channel's key: Incorrect API key provided: sk-abc***"
    assert rows(gateway, "SELECT DISTINCT enabled FROM abilities WHERE channel_id = ?", channel) == [(0,)]
    assert row(gateway, "channels", healthy)["status"] == 1 and not health_of(gateway).down
    [mail] = smtp.wait(1)
    assert mail.recipients == ["root@tollway.test"] and f"#{channel}" in mail.subject
    assert "refused the channel" in mail.html
    time.sleep(0.2)
    assert len(smtp.messages) == 1  # three failures, one disable, one mail


def test_without_the_option_the_channel_stays_enabled(gateway: Gateway, mock_url: str) -> None:
    channel = gateway.add_channel(mock_url, models="gpt-4o-mini")
    report(gateway, channel, "gpt-4o-mini", REVOKED, times=5)
    assert row(gateway, "channels", channel)["status"] == 1
    [pair] = data(gateway.admin.get("/api/channel/health"))["cooling"]  # the pair steps aside instead
    assert (pair["channel_id"], pair["model"]) == (channel, "gpt-4o-mini")


def test_an_operator_choice_is_never_overridden(gateway: Gateway, mock_url: str) -> None:
    """A channel switched off by hand keeps status 2; enabling it by hand clears the automatic reason."""
    configure(gateway, AutomaticDisableChannelEnabled="true")
    manual = gateway.add_channel(mock_url, models="gpt-4o-mini", status=2)
    report(gateway, manual, "gpt-4o-mini", REVOKED)
    assert not health_of(gateway).down and row(gateway, "channels", manual)["status"] == 2
    channel = gateway.add_channel(mock_url, models="gpt-4o-mini")
    report(gateway, channel, "gpt-4o-mini", REVOKED)
    wait_until(lambda: row(gateway, "channels", channel)["status"] == 3)
    report(gateway, channel, "other-model", SERVER_ERROR, times=5)
    data(gateway.admin.put("/api/channel/", json={"id": channel, "status": 1}))
    shown = data(gateway.admin.get(f"/api/channel/{channel}"))
    assert (shown["status"], shown["status_reason"]) == (1, "") and shown["status_time"] > 0
    assert data(gateway.admin.get("/api/channel/health"))["cooling"] == []  # the operator's fix starts afresh


def test_the_health_route_lists_cooling_pairs_and_clears_them(gateway: Gateway, mock_url: str,
                                                              alice: httpx.Client) -> None:
    first = gateway.add_channel(mock_url, name="first", models="gpt-4o-mini,o3-mini")
    second = gateway.add_channel(mock_url, name="second", models="gpt-4o-mini")
    before = int(time.time())
    report(gateway, first, "gpt-4o-mini", SERVER_ERROR, times=5)
    report(gateway, second, "gpt-4o-mini", SERVER_ERROR, times=5)
    view = data(gateway.admin.get("/api/channel/health"))
    assert view["rules"] == {"enabled": True, "window": 60, "min_calls": 5, "failure_rate": 0.5, "cooldown": 30,
                             "max_cooldown": 600}
    assert [(p["channel_id"], p["channel_name"], p["model"]) for p in view["cooling"]] == [
        (first, "first", "gpt-4o-mini"), (second, "second", "gpt-4o-mini")]
    pair = view["cooling"][0]
    assert pair["since"] >= before and pair["until"] - pair["since"] in (29, 30, 31) and pair["strikes"] == 1
    assert pair["reason"] == "500 upstream_500: mock failure 500" and pair["trial"] is False
    only = data(gateway.admin.get("/api/channel/health", params={"channel": second}))["cooling"]
    assert [p["channel_id"] for p in only] == [second]
    assert data(gateway.admin.delete("/api/channel/health", params={"channel": first, "model": "o3-mini"})) == 0
    assert data(gateway.admin.delete("/api/channel/health", params={"channel": first})) == 1
    assert [p["channel_id"] for p in data(gateway.admin.get("/api/channel/health"))["cooling"]] == [second]
    refused(gateway.admin.get("/api/channel/health", params={"channel": "x"}), 200, "channel")
    refused(gateway.admin.delete("/api/channel/health"), 200, "channel")
    refused(alice.get("/api/channel/health"), 200)  # One API answers a role failure with 200 and success:false
    refused(alice.delete("/api/channel/health", params={"channel": second}), 200)
    assert len(data(gateway.admin.get("/api/channel/health"))["cooling"]) == 1


def test_a_passing_test_ends_a_cool_down(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """A channel test is the probe that lets a cooling pair serve again."""
    channel = gateway.add_channel(mock_url, models="gpt-4o-mini")
    report(gateway, channel, "gpt-4o-mini", SERVER_ERROR, times=5)
    assert len(data(gateway.admin.get("/api/channel/health"))["cooling"]) == 1
    body = gateway.admin.get(f"/api/channel/test/{channel}", params={"model": "gpt-4o-mini"}).json()
    assert body["success"] is True
    assert data(gateway.admin.get("/api/channel/health"))["cooling"] == []


def test_cooldown_options_are_validated(gateway: Gateway) -> None:
    for key, value in (("ChannelCooldownWindow", "5"), ("ChannelCooldownMinCalls", "0"),
                       ("ChannelCooldownFailureRate", "0"), ("ChannelCooldownFailureRate", "1.5"),
                       ("ChannelCooldownSeconds", "-1"), ("ChannelCooldownEnabled", "maybe")):
        refused(gateway.admin.put("/api/option/", json={"key": key, "value": value}), 200, key)
    configure(gateway, ChannelCooldownWindow="120", ChannelCooldownMinCalls="10", ChannelCooldownFailureRate="0.25",
              ChannelCooldownSeconds="5", ChannelCooldownMaxSeconds="60", ChannelPreferFastEnabled="true")
    assert data(gateway.admin.get("/api/channel/health"))["rules"] == {
        "enabled": True, "window": 120, "min_calls": 10, "failure_rate": 0.25, "cooldown": 5, "max_cooldown": 60}
