"""Top-up page in a real browser: the balance, redeeming a code, the external top-up link with One API's parameters."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway

PASSWORD = "user-password-1"


def new_code(gateway: Gateway, quota: int) -> str:
    [key] = gateway.api("POST", "/api/redemption/", json={"name": "gift", "quota": quota, "count": 1})
    return str(key)


def test_redeem_a_code(gateway: Gateway, page: Page) -> None:
    _, alice = gateway.create_user("alice", quota=500_000)
    code = new_code(gateway, 1_000_000)
    sign_in(page, gateway, "alice", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Top up").click()
    page.wait_for_url("**/topup")
    balance = page.locator("#topup-balance")
    expect(balance).to_have_text("$1")
    expect(page.get_by_text("The administrator has not set a top-up link.")).to_be_visible()
    expect(page.get_by_text("No top-ups yet.")).to_be_visible()

    page.get_by_label("Redemption code").fill(code)
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("status").filter(has_text="Redeemed")).to_have_text(
        "Redeemed: $2 added to your balance.")
    expect(balance).to_have_text("$3")
    expect(page.get_by_label("Redemption code")).to_have_value("")
    assert gateway.api("GET", "/api/user/self", alice)["quota"] == 1_500_000

    page.get_by_label("Redemption code").fill(code)  # a code is redeemed once
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator(".toast.error")).to_be_visible()
    assert gateway.api("GET", "/api/user/self", alice)["quota"] == 1_500_000

    page.reload()
    expect(balance).to_have_text("$3")
    recent = page.get_by_role("table", name="Recent top-ups")
    expect(recent.locator("tbody tr")).to_have_count(1)
    expect(recent).to_contain_text("$2")
    screenshot(page, "topup")


def test_top_up_link_units_and_phone_width(gateway: Gateway, page: Page) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "TopUpLink", "value": "https://pay.example.com/buy?plan=pro"})
    gateway.api("PUT", "/api/option/", json={"key": "DisplayInCurrencyEnabled", "value": "false"})
    user_id, _ = gateway.create_user("alice", quota=1234)
    code = new_code(gateway, 5000)
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, gateway, "alice", PASSWORD)
    page.goto(gateway.url + "/topup")
    expect(page.locator("#topup-balance")).to_have_text("1,234")  # raw units when currency display is off

    link = page.get_by_role("link", name="Go to the top-up site")
    expect(link).to_have_attribute("target", "_blank")
    href = link.get_attribute("href") or ""
    parts = urlsplit(href)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "pay.example.com", "/buy")
    assert query["plan"] == ["pro"] and query["username"] == ["alice"] and query["user_id"] == [str(user_id)]
    uuid.UUID(query["transaction_id"][0])

    page.get_by_label("Redemption code").fill(code)
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator("#redeem-result")).to_have_text("Redeemed: 5,000 added to your balance.")
    expect(page.locator("#topup-balance")).to_have_text("6,234")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
