"""Channel health and rate limits in the console: why a channel was disabled, which pairs step aside (and letting
them serve again), the token form's per-minute limits, the new settings."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.admin.support import PASSWORD
from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway
from tests.routing.test_health import REVOKED, SERVER_ERROR, report


def test_channel_page_shows_reasons_and_pairs_stepping_aside(gateway: Gateway, page: Page, mock_url: str) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "AutomaticDisableChannelEnabled", "value": "true"})
    revoked = gateway.add_channel(mock_url, name="revoked", models="gpt-4o-mini")
    flaky = gateway.add_channel(mock_url, name="flaky", models="gpt-4o-mini,o3-mini")
    report(gateway, revoked, "gpt-4o-mini", REVOKED)
    report(gateway, flaky, "o3-mini", SERVER_ERROR, times=5)
    deadline = time.monotonic() + 10
    while gateway.services.cache.channels[revoked].status != 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sign_in(page, gateway)
    page.goto(gateway.url + "/channel")
    expect(page.locator(f'[data-reason-for="{revoked}"]')).to_contain_text(
        "the upstream refused the channel's key: Incorrect API key provided")
    aside = page.get_by_role("region", name="Stepping aside")
    expect(aside.locator(f'[data-cooling="{flaky}:o3-mini"]')).to_contain_text("500 upstream_500: mock failure 500")
    expect(page.locator(f'tr[data-channel="{flaky}"]')).to_contain_text("o3-mini until")
    screenshot(page, "channels-health")
    aside.get_by_role("button", name="Let flaky serve o3-mini again").click()
    expect(page.get_by_role("region", name="Stepping aside")).to_have_count(0)
    assert gateway.api("GET", "/api/channel/health")["cooling"] == []


def test_token_form_sets_rate_limits(gateway: Gateway, page: Page) -> None:
    _, alice = gateway.create_user("alice", quota=1000)
    sign_in(page, gateway, "alice", PASSWORD)
    page.goto(gateway.url + "/token/add")
    page.get_by_label("Name").fill("limited")
    page.get_by_label("Requests per minute").fill("30")
    page.get_by_label("Tokens per minute").fill("40000")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("dialog", name="Token created")).to_be_visible()
    [token] = gateway.api("GET", "/api/token/", alice)
    assert (token["rpm_limit"], token["tpm_limit"]) == (30, 40000)
    page.goto(gateway.url + f"/token/edit/{token['id']}")
    expect(page.get_by_label("Requests per minute")).to_have_value("30")
    page.get_by_label("Requests per minute").fill("0")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/token")
    assert gateway.api("GET", f"/api/token/{token['id']}", alice)["rpm_limit"] == 0


def test_settings_show_cooldowns_rate_limits_and_the_metrics_secret(gateway: Gateway, page: Page) -> None:
    sign_in(page, gateway)
    page.goto(gateway.url + "/setting/operation")
    expect(page.get_by_label("Failure window (seconds)")).to_have_value("60")
    expect(page.get_by_label("Rate limits per group")).to_be_visible()
    expect(page.get_by_label("Metrics secret")).to_have_value("")
