"""An operator's first hour, in a real browser: channel, test, token, a real call, logs, dashboard, codes, settings."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock


def test_operator_journey(gateway: Gateway, page: Page, mock: OpenAIMock, mock_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, gateway)

    # Add a channel on the mock upstream.
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="Add channel").click()
    page.get_by_label("Name").fill("mock openai")
    page.get_by_label("Base URL").fill(mock_url)
    page.get_by_label("Key", exact=True).fill("sk-mock")
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Add models").fill("gpt-4o-mini")
    page.get_by_label("Add models").press("Enter")
    page.get_by_role("button", name="Add channel").click()
    page.wait_for_url("**/channel?added=1")
    row = page.get_by_role("row").filter(has_text="mock openai")
    expect(row).to_be_visible()

    # Test it.
    row.get_by_role("button", name="Test mock openai").click()
    dialog = page.get_by_role("dialog", name="Test channel mock openai")
    dialog.get_by_role("button", name="Run test").click()
    expect(dialog.locator("#test-summary")).to_have_text("1 of 1 passed")
    page.keyboard.press("Escape")
    screenshot(page, "journey-channels")

    # Create a token and copy its key.
    page.get_by_role("navigation").get_by_role("link", name="Tokens").click()
    page.get_by_role("main").get_by_role("link", name="Add token").first.click()
    page.get_by_label("Name").fill("my app")
    page.get_by_label("Unlimited quota").check()
    page.get_by_role("button", name="Create token").click()
    created = page.get_by_role("dialog", name="Token created")
    created.get_by_role("button", name="Copy key").click()
    key = page.evaluate("navigator.clipboard.readText()")
    assert key.startswith("sk-") and len(key) == 51

    # Call the relay with that key through the official SDK.
    answer = gateway.openai(key).chat.completions.create(model="gpt-4o-mini",
                                                         messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello from the mock."
    gateway.flush()

    # See the call in the logs and on the dashboard.
    page.goto(gateway.url + "/log")
    call = page.get_by_role("row").filter(has_text="gpt-4o-mini").filter(has_text="my app")
    expect(call).to_have_count(1)
    screenshot(page, "journey-logs")
    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("img", name="Requests per day, last 7 days: 1 in all")).to_be_visible()
    screenshot(page, "journey-dashboard")

    # Create a redemption code and redeem it.
    page.get_by_role("navigation").get_by_role("link", name="Redemption codes").click()
    page.get_by_role("link", name="Create codes").click()
    page.get_by_label("Name").fill("welcome")
    page.get_by_label("Quota of each code").fill("500000")
    page.get_by_label("Number of codes").fill("1")
    page.get_by_role("button", name="Create").click()
    generated = page.get_by_label("Generated codes")
    expect(generated).to_have_value(re.compile(r"^[0-9a-zA-Z]{32}$"))
    code = generated.input_value()
    before = gateway.api("GET", "/api/user/self")["quota"]
    page.get_by_role("navigation").get_by_role("link", name="Top up").click()
    page.get_by_label("Redemption code").fill(code)
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("status").filter(has_text="Redeemed")).to_be_visible()
    assert gateway.api("GET", "/api/user/self")["quota"] == before + 500000

    # Change a setting: the notice shows on the home page at once.
    page.goto(gateway.url + "/setting/other")
    notice = page.get_by_role("region", name="Notice")
    notice.get_by_label("Notice").fill("Welcome to **our** gateway")
    notice.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Saved")
    page.goto(gateway.url + "/")
    expect(page.locator(".notice strong")).to_have_text("our")

    # Switch language.
    page.get_by_label("Language").select_option("zh")
    expect(page.get_by_role("navigation").get_by_role("link", name="仪表盘")).to_be_visible()
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("navigation").get_by_role("link", name="Dashboard")).to_be_visible()


def test_a_user_cannot_reach_admin_pages(gateway: Gateway, browser: Browser) -> None:
    gateway.create_user("casey", quota=1000)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, gateway, "casey", "user-password-1")
        navigation = page.get_by_role("navigation")
        for label in ("Channels", "Redemption codes", "Users"):
            expect(navigation.get_by_role("link", name=label)).to_have_count(0)
        for path in ("/channel", "/channel/add", "/redemption", "/user", "/setting/operation", "/setting/system"):
            response = page.goto(gateway.url + path)
            assert response is not None and response.status == 403, path
            expect(page.get_by_role("heading", level=1)).to_have_text("403")
    finally:
        context.close()
