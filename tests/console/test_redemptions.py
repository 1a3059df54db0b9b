"""Redemption-code pages in a real browser: create a batch and copy it, list, search, disable, edit and delete."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway

EVIL = "<script>alert(1)</script>"


def codes(gateway: Gateway) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = gateway.api("GET", "/api/redemption/?size=100")
    return sorted(found, key=lambda c: c["id"])


def test_create_a_batch_then_manage_it(gateway: Gateway, page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    sign_in(page, gateway)
    page.get_by_role("navigation").get_by_role("link", name="Redemption codes").click()
    expect(page.get_by_text("No redemption codes yet.")).to_be_visible()
    page.get_by_role("link", name="Create codes").click()
    page.wait_for_url("**/redemption/add")
    page.get_by_label("Name").fill("launch")
    page.get_by_label("Quota of each code").fill("1000000")
    expect(page.locator("#quota-hint")).to_have_text("In raw quota units: $2")
    page.get_by_label("Number of codes").fill("3")
    page.get_by_role("button", name="Create").click()

    made = codes(gateway)
    keys = page.get_by_label("Generated codes")
    expect(keys).to_have_value("\n".join(c["key"] for c in made))
    assert len(made) == 3 and {c["quota"] for c in made} == {1_000_000} and {c["name"] for c in made} == {"launch"}
    screenshot(page, "redemptions-add")
    page.get_by_role("button", name="Copy all").click()
    expect(page.locator(".toast").last).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == [c["key"] for c in made]

    # A code redeemed by a user shows as redeemed, by whom.
    user_id, alice = gateway.create_user("alice")
    gateway.api("POST", "/api/user/topup", alice, json={"key": made[0]["key"]})
    page.get_by_role("link", name="Back to redemption codes").first.click()
    page.wait_for_url("**/redemption")
    first, second, third = (page.locator(f"tr[data-code='{c['id']}']") for c in made)
    expect(first.locator(".badge")).to_have_text("Redeemed")
    expect(first).to_contain_text(f"by user #{user_id}")
    expect(first.get_by_role("button", name="Disable")).to_have_count(0)
    expect(second.locator(".badge")).to_have_text("Unused")
    expect(second).to_contain_text("$2")
    screenshot(page, "redemptions-list")

    second.get_by_role("button", name=f"Copy code #{made[1]['id']}").click()
    page.wait_for_function("async (key) => (await navigator.clipboard.readText()) === key", arg=made[1]["key"])
    second.get_by_role("button", name="Disable").click()
    expect(second.locator(".badge")).to_have_text("Disabled")
    assert codes(gateway)[1]["status"] == 2
    second.get_by_role("button", name="Enable").click()
    expect(second.locator(".badge")).to_have_text("Unused")

    third.get_by_role("link", name="Edit").click()
    page.wait_for_url(f"**/redemption/edit/{made[2]['id']}")
    expect(page.get_by_label("Name")).to_have_value("launch")
    page.get_by_label("Name").fill(EVIL[:20])
    page.get_by_label("Quota of each code").fill("0")
    page.get_by_role("button", name="Save").click()  # the browser refuses it: the field says min 1
    assert page.evaluate("document.getElementById('quota').validity.rangeUnderflow")
    page.get_by_label("Quota of each code").fill("42")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/redemption")
    expect(third.locator(".name")).to_have_text(EVIL[:20])
    assert codes(gateway)[2]["quota"] == 42

    page.get_by_label("Search codes").fill("<scr")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_label("Status").select_option("used")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No code matches.")).to_be_visible()
    page.get_by_role("link", name="Show all").click()
    third.get_by_role("button", name="Delete").click()
    expect(third).to_have_count(0)
    assert alerts == [f"Delete code #{made[2]['id']} ({EVIL[:20]})? This cannot be undone."]
    assert [c["id"] for c in codes(gateway)] == [made[0]["id"], made[1]["id"]]


def test_admin_only_paging_and_phone(gateway: Gateway, page: Page, browser: Browser) -> None:
    gateway.api("POST", "/api/redemption/", json={"name": "bulk", "quota": 5, "count": 25})
    gateway.api("POST", "/api/user/", json={"username": "alice", "password": "user-password-1"})
    sign_in(page, gateway, "alice", "user-password-1")
    for path in ("/redemption", "/redemption/add", "/redemption/edit/1"):
        response = page.goto(gateway.url + path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("403")

    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    phone = context.new_page()
    try:
        sign_in(phone, gateway)
        phone.goto(gateway.url + "/redemption")
        expect(phone.locator(".pager")).to_contain_text("Page 1 of 2 · 25 in all")
        expect(phone.locator("tbody tr")).to_have_count(20)
        phone.get_by_role("link", name="Next page").click()
        expect(phone.locator("tbody tr")).to_have_count(5)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        phone.goto(gateway.url + "/redemption/add")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
