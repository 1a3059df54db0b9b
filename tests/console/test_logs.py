"""Logs page in a real browser: one's own logs only, the admin's view of everyone's, filters, the quota sum, details."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway

PASSWORD = "user-password-1"
EVIL = "<script>alert(1)</script>"
CONSUME, TOPUP = 2, 1


def plant(gateway: Gateway, user_id: int, username: str, model: str, quota: int, **fields: object) -> None:
    """A log written the way the relay writes them: queued on the keeper (flushed by the caller)."""
    row = {"user_id": user_id, "username": username, "created_at": int(time.time()), "type": CONSUME,
           "content": "model ratio 0.075", "token_name": "default", "model_name": model, "quota": quota,
           "prompt_tokens": 12, "completion_tokens": 5, "channel_id": 1, "request_id": f"req-{username}-{model}",
           "elapsed_time": 840, "first_byte_time": 120, "is_stream": True, **fields}
    gateway.services.keeper.add_log(row)


def cast(gateway: Gateway) -> tuple[int, int]:
    gateway.add_channel("http://127.0.0.1:9", name=EVIL)
    alice_id, _ = gateway.create_user("alice")
    bob_id, _ = gateway.create_user("bob")
    plant(gateway, alice_id, "alice", "gpt-4o-mini", 1500, upstream_model="gpt-4o-mini-2024-07-18",
          inbound_api="anthropic")
    plant(gateway, alice_id, "alice", "gpt-3.5-turbo", 500, content=EVIL, is_stream=False, first_byte_time=0)
    plant(gateway, alice_id, "alice", "", 2_000_000, type=TOPUP, content="Redeemed a code", token_name="",
          prompt_tokens=0, completion_tokens=0, channel_id=0, request_id="", elapsed_time=0, first_byte_time=0,
          is_stream=False)
    plant(gateway, bob_id, "bob", "gpt-4o-mini", 7000, token_name="bobs")
    gateway.flush()
    return alice_id, bob_id


def test_a_user_sees_and_filters_only_their_logs(gateway: Gateway, page: Page) -> None:
    cast(gateway)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    sign_in(page, gateway, "alice", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Logs").click()
    page.wait_for_url("**/log")
    rows = page.locator("tbody > tr:not(.log-detail)")
    expect(rows).to_have_count(3)
    expect(page.locator("tbody")).not_to_contain_text("bobs")
    expect(page.get_by_role("columnheader", name="Channel")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="User", exact=True)).to_have_count(0)
    expect(page.locator("#log-quota-sum")).to_have_text("$0.004")  # consume logs only: 2,000 units
    expect(rows.nth(0).locator(".badge")).to_have_text("Top-up")

    details = rows.nth(1).get_by_role("button", name="Details")
    details.click()
    expect(details).to_have_attribute("aria-expanded", "true")
    shown = page.locator("tr.log-detail:visible")
    expect(shown).to_contain_text("req-alice-gpt-3.5-turbo")
    expect(shown.locator("pre")).to_have_text(EVIL)  # content shown as text, never run
    expect(shown).not_to_contain_text("Log ID")  # a user's own logs hide the global id, as /api/log/self does

    # A mapped call shows the requested model with the upstream one under it, and both in its details.
    mapped = rows.nth(2)
    expect(mapped.locator("td").nth(3)).to_have_text("gpt-4o-mini→ gpt-4o-mini-2024-07-18")
    # The API the client spoke: Anthropic's Messages for this call, OpenAI's own for the other.
    expect(mapped.locator("td").nth(4)).to_have_text("Anthropic Messages")
    expect(rows.nth(1).locator("td").nth(4)).to_have_text("OpenAI")
    mapped.get_by_role("button", name="Details").click()
    expect(page.locator("tr.log-detail:visible").last).to_contain_text("Upstream modelgpt-4o-mini-2024-07-18")
    expect(page.locator("tr.log-detail:visible").last).to_contain_text("Client APIAnthropic Messages")

    page.get_by_label("Model name").fill("gpt-4o-mini")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/log?model_name=gpt-4o-mini*")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("gpt-4o-mini")
    expect(page.locator("#log-quota-sum")).to_have_text("$0.003")

    page.get_by_label("Type").select_option(label="Top-up")
    page.get_by_label("Model name").fill("")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge")).to_have_text("Top-up")

    page.get_by_label("Type").select_option(label="All types")
    page.get_by_label("From").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**start_timestamp=*")
    expect(page.get_by_text("No logs match.")).to_be_visible()
    expect(page.get_by_label("From")).to_have_value("2099-01-01T00:00")

    response = page.goto(gateway.url + "/log/1")  # one log on its own page is for admins
    assert response is not None and response.status == 403
    assert alerts == []

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(gateway.url + "/log")
    expect(page.get_by_label("Token name")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # the table scrolls inside its frame


def test_an_admin_sees_everyone_and_one_log_in_full(gateway: Gateway, page: Page) -> None:
    cast(gateway)
    sign_in(page, gateway)
    page.goto(gateway.url + "/log")
    rows = page.locator("tbody > tr:not(.log-detail)")
    expect(rows).to_have_count(4)
    expect(page.locator("#log-quota-sum")).to_have_text("$0.018")
    expect(page.get_by_role("columnheader", name="Channel")).to_be_visible()
    expect(rows.first).to_contain_text("bob")
    screenshot(page, "logs-list")

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Channel").select_option(label=f"#1 {EVIL}")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/log?*username=alice*")
    expect(rows).to_have_count(2)
    expect(page.locator("#log-quota-sum")).to_have_text("$0.004")

    rows.first.get_by_role("button", name="Details").click()
    page.get_by_role("link", name="Open this log on its own page").click()
    page.wait_for_url("**/log/*")
    main = page.get_by_role("main")
    expect(main).to_contain_text("req-alice-gpt-3.5-turbo")
    expect(main.locator("pre")).to_have_text(EVIL)
    expect(main).to_contain_text(f"#1 {EVIL}")
    expect(main).to_contain_text("840 ms")
    screenshot(page, "logs-detail")

