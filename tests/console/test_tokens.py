"""Tokens page in a real browser: create, copy, edit, disable and delete one's own tokens; search, sort, pages."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import in_reach, screenshot, sign_in
from tests.harness import Gateway

PASSWORD = "user-password-1"
EVIL = "<script>alert(1)</script>"


def own_tokens(gateway: Gateway, client: httpx.Client) -> list[dict[str, Any]]:
    tokens: list[dict[str, Any]] = gateway.api("GET", "/api/token/?size=100", client)
    return tokens


def clipboard(page: Page) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def test_create_copy_edit_disable_and_delete(gateway: Gateway, page: Page) -> None:
    gateway.add_channel("http://127.0.0.1:9", models="gpt-4o-mini,gpt-3.5-turbo")
    _, alice = gateway.create_user("alice", quota=5_000_000)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    sign_in(page, gateway, "alice", PASSWORD)

    page.get_by_role("navigation").get_by_role("link", name="Tokens").click()
    expect(page.get_by_text("You have no tokens yet.")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Add token").first.click()
    page.wait_for_url("**/token/add")
    page.get_by_label("Name").fill(EVIL)
    page.get_by_role("button", name="+1 day").click()
    page.get_by_label("Remaining quota").fill("1000000")
    expect(page.locator("#quota-hint")).to_have_text("≈ $2")
    page.get_by_label("Available model").select_option("gpt-4o-mini")
    page.get_by_role("button", name="Add model", exact=True).click()
    expect(page.get_by_label("Allowed models")).to_have_value("gpt-4o-mini")
    page.get_by_label("Allowed subnets").fill("10.0.0.0/8, 192.168.1.0/24")
    screenshot(page, "tokens-edit")
    page.get_by_role("button", name="Create token").click()

    dialog = page.get_by_role("dialog", name="Token created")
    expect(dialog).to_be_visible()
    [token] = own_tokens(gateway, alice)
    expect(dialog.locator("code")).to_have_text("sk-" + token["key"])
    dialog.get_by_role("button", name="Copy key").click()
    expect(page.locator(".toast")).to_have_text("Copied")
    assert clipboard(page) == "sk-" + token["key"]
    assert token["name"] == EVIL and token["remain_quota"] == 1_000_000 and not token["unlimited_quota"]
    assert abs(token["expired_time"] - (time.time() + 86400)) < 180
    assert token["models"] == "gpt-4o-mini" and token["subnet"] == "10.0.0.0/8,192.168.1.0/24"

    dialog.get_by_role("link", name="Back to tokens").click()
    page.wait_for_url("**/token")
    row = page.get_by_role("row").filter(has=page.locator(".token-name", has_text=EVIL))
    expect(row.locator(".token-name")).to_have_text(EVIL)  # shown as text, never run
    expect(row.locator(".badge")).to_have_text("Enabled")
    expect(row).to_contain_text("$2")
    expect(row).to_contain_text("gpt-4o-mini")
    expect(row).to_contain_text("10.0.0.0/8, 192.168.1.0/24")

    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".badge")).to_have_text("Disabled")
    assert own_tokens(gateway, alice)[0]["status"] == 2
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".badge")).to_have_text("Enabled")

    row.get_by_role("link", name="Edit").click()
    page.wait_for_url(f"**/token/edit/{token['id']}")
    expect(page.get_by_label("Name")).to_have_value(EVIL)
    expect(page.get_by_label("Expires at")).not_to_have_value("")
    page.get_by_label("Name").fill("renamed")
    page.get_by_role("button", name="Never expires").click()
    page.get_by_label("Unlimited quota").check()
    page.get_by_role("button", name="Clear").click()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/token")
    [edited] = own_tokens(gateway, alice)
    assert (edited["name"], edited["expired_time"], edited["unlimited_quota"], edited["models"]) == (
        "renamed", -1, True, "")
    row = page.get_by_role("row").filter(has=page.locator(".token-name", has_text="renamed"))
    expect(row).to_contain_text("Unlimited")
    expect(row).to_contain_text("Never")

    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("You have no tokens yet.")).to_be_visible()
    assert own_tokens(gateway, alice) == []
    assert alerts == ["Delete the token renamed? Programs using its key will stop working."]


def test_only_own_tokens_with_search_sort_and_pages(gateway: Gateway, page: Page) -> None:
    _, bob = gateway.create_user("bob")
    gateway.create_token(bob, name="bob secret")
    _, alice = gateway.create_user("alice")
    for n in range(12):
        gateway.create_token(alice, name=f"{'beta' if n % 4 == 0 else 'alpha'}-{n:02}", unlimited_quota=False,
                             remain_quota=n * 1000)
    sign_in(page, gateway, "alice", PASSWORD)
    page.goto(gateway.url + "/token")
    body = page.locator("tbody")
    expect(body.get_by_role("row")).to_have_count(10)
    expect(page.get_by_text("Page 1 of 2 · 12 in all")).to_be_visible()
    expect(body).not_to_contain_text("bob secret")
    expect(body.get_by_role("row").first).to_contain_text("alpha-11")  # newest first
    page.get_by_role("link", name="Next").click()
    expect(body.get_by_role("row")).to_have_count(2)
    expect(body).to_contain_text("alpha-01")

    page.get_by_label("Search by name").fill("beta")
    page.get_by_label("Sort by").select_option(label="Remaining quota")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/token?keyword=beta*")
    names = body.locator(".token-name")
    expect(names).to_have_text(["beta-08", "beta-04", "beta-00"])
    # Another user's token cannot be opened for editing: it is as absent as a deleted one.
    bob_token = own_tokens(gateway, bob)[0]
    response = page.goto(f"{gateway.url}/token/edit/{bob_token['id']}")
    assert response is not None and response.status == 404


def test_chat_links_and_phone_width(gateway: Gateway, page: Page) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "ChatLink", "value": "https://chat.example.com/"})
    _, alice = gateway.create_user("alice")
    key = gateway.create_token(alice, name="chatty")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    sign_in(page, gateway, "alice", PASSWORD)
    page.goto(gateway.url + "/token")
    page.get_by_text("Chat apps").click()
    screenshot(page, "tokens-list")
    # Without ServerAddress the links point at the address the page was opened at, as One API's do.
    next_web = json.dumps({"key": key, "url": gateway.url}, separators=(",", ":"))
    lobe = json.dumps({"keyVaults": {"openai": {"apiKey": key, "baseURL": gateway.url + "/v1"}}}, separators=(",", ":"))
    expected_next = "https://chat.example.com/#/?settings=" + quote(next_web, safe="")
    expect(page.get_by_role("link", name="Open in ChatGPT-Next-Web")).to_have_attribute("href", expected_next)
    page.get_by_role("button", name="Copy for LobeChat").click()
    expect(page.locator(".toast")).to_have_text("Copied")
    assert clipboard(page) == "https://chat.example.com/?settings=" + quote(lobe, safe="")
    page.get_by_role("button", name="Copy for ChatGPT-Next-Web").click()
    expect(page.locator(".toast").last).to_have_text("Copied")
    assert clipboard(page) == expected_next

    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    # Rows become cards: every action is in reach without scrolling sideways, each value under its column's name.
    row = page.locator("tbody tr").first
    for action in (row.get_by_role("button", name="Copy key"), row.get_by_role("link", name="Edit"),
                   row.get_by_role("button", name="Delete")):
        in_reach(page, action)
    expect(page.locator("tbody td.token-actions").first).to_have_attribute("data-label", "Actions")
    screenshot(page, "tokens-phone")
