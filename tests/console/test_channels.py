"""Channel pages in a real browser: the add/edit form per type, the list's tests, balances, inline edits and actions."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import in_reach, screenshot, sign_in
from tests.harness import ROOT_PASSWORD, Gateway
from tests.upstreams import balance_mock
from tests.upstreams.openai_mock import OpenAIMock
from tollway.console import i18n
from tollway.console.channel_forms import CONFIG_FIELDS, TYPE_FIELDS
from tollway.routing import channel_types

EVIL = "<script>alert(1)</script>"


def channel(gateway: Gateway, channel_id: int) -> dict[str, Any]:
    found: dict[str, Any] = gateway.api("GET", f"/api/channel/{channel_id}")
    return found


def all_channels(gateway: Gateway) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = gateway.api("GET", "/api/channel/?size=100")
    return sorted(found, key=lambda c: c["id"])


def test_type_labels_hints_and_config_fields_are_translated() -> None:
    chinese = i18n.catalog()["zh"]
    texts = {kind.label for kind in channel_types.TYPES.values()} | {k.key_help for k in channel_types.TYPES.values()}
    texts |= {label for label, _, _ in CONFIG_FIELDS.values()} | {label for label, _ in TYPE_FIELDS.values()}
    assert not sorted(texts - set(chinese))
    assert all(name in CONFIG_FIELDS for kind in channel_types.TYPES.values() for name in kind.config)


def test_add_channels_with_the_form(gateway: Gateway, page: Page, mock_url: str) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "GroupRatio", "value": '{"default": 1, "vip": 2}'})
    sign_in(page, gateway)
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="Add channel").click()
    page.wait_for_url("**/channel/add")

    # The type decides the defaults, the hints and which config fields there are.
    chips = page.locator("#model-chips li")
    expect(page.locator("#model-chips").get_by_text("gpt-4o-mini", exact=True)).to_have_count(1)
    expect(page.locator("#base_url-hint")).to_contain_text("https://api.openai.com")
    page.get_by_label("Type").select_option(label="Anthropic Claude")
    expect(page.locator("#model-chips").get_by_text("claude-3-5-haiku-20241022", exact=True)).to_have_count(1)
    expect(page.locator("#model-chips").get_by_text("gpt-4o-mini", exact=True)).to_have_count(0)
    expect(page.locator("#key-hint")).to_contain_text("sk-ant-")
    page.get_by_label("Type").select_option(label="AWS Bedrock Claude")
    expect(page.get_by_label("AWS region")).to_be_visible()
    expect(page.get_by_label("Secret access key")).to_be_visible()
    expect(page.get_by_label("API version")).to_be_hidden()
    page.get_by_label("Type").select_option(label="Custom")
    expect(page.locator("#base_url-hint")).to_contain_text("Required for this type.")
    expect(page.get_by_label("AWS region")).to_be_hidden()

    page.get_by_label("Name").fill("batch")
    page.get_by_label("Key", exact=True).fill("sk-first\nsk-second")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("#form-error")).to_have_text("This channel type needs a base URL.")
    page.get_by_label("Base URL").fill(mock_url)
    page.get_by_role("button", name="Clear").click()
    expect(chips).to_have_count(0)
    page.get_by_label("Add models").fill("my-model, gpt-4o-mini")
    page.get_by_label("Add models").press("Enter")
    expect(chips).to_have_count(2)
    page.get_by_role("button", name="Remove my-model").click()
    page.get_by_label("Add models").fill("custom-model")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#models-count")).to_have_text("2 models selected")
    page.get_by_label("vip").check()
    page.get_by_label("Model mapping").fill("not json")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("#form-error")).to_contain_text("Model mapping must be a JSON object")
    page.get_by_label("Model mapping").fill('{"custom-model": "gpt-4o-mini"}')
    page.get_by_label("System prompt").fill("Be brief.")
    page.get_by_label("Priority", exact=True).fill("5")
    screenshot(page, "channels-edit")
    page.get_by_role("button", name="Add channel").click()

    expect(page.get_by_role("status").filter(has_text="Added 2 channels.")).to_be_visible()
    # The notice is for this visit only: the address loses its mark, and a reload does not announce it again.
    expect(page).to_have_url(gateway.url + "/channel")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text("Added 2 channels.")).to_have_count(0)
    first, second = all_channels(gateway)
    assert first["type"] == second["type"] == 8 and first["base_url"] == mock_url.rstrip("/")
    assert first["models"] == "gpt-4o-mini,custom-model" and first["group"] == "default,vip"
    assert first["model_mapping"] == '{"custom-model":"gpt-4o-mini"}' and first["system_prompt"] == "Be brief."
    assert first["priority"] == 5 and first["key"] != second["key"]
    keys = {gateway.services.cache.channels[c["id"]].key for c in (first, second)}
    assert keys == {"sk-first", "sk-second"}


def test_edit_keeps_the_key_and_secret_config(gateway: Gateway, page: Page) -> None:
    [created] = gateway.api("POST", "/api/channel/", json={
        "type": 33, "name": "bedrock", "key": "AKIA|very-secret|us-east-1", "models": "claude-3-haiku-20240307",
        "config": {"region": "us-east-1", "ak": "AKIA", "sk": "very-secret"}})
    sign_in(page, gateway)
    page.goto(f"{gateway.url}/channel/edit/{created['id']}")
    expect(page.get_by_label("Key", exact=True)).to_have_value("")
    expect(page.get_by_label("Key", exact=True)).to_have_attribute("placeholder", created["key"])
    expect(page.get_by_label("AWS region")).to_have_value("us-east-1")
    expect(page.get_by_label("Secret access key")).to_have_value("")  # never put in the page's inputs
    page.get_by_label("Name").fill("bedrock west")
    page.get_by_label("AWS region").fill("us-west-2")
    page.get_by_label("Weight").fill("3")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/channel?saved=1")
    expect(page.get_by_role("status").filter(has_text="Channel saved.")).to_be_visible()
    saved = gateway.services.cache.channels[created["id"]]
    assert saved.name == "bedrock west" and saved.weight == 3 and saved.key == "AKIA|very-secret|us-east-1"
    assert saved.config == {"region": "us-west-2", "ak": "AKIA", "sk": "very-secret"}
    assert saved.models == ["claude-3-haiku-20240307"]

    page.goto(f"{gateway.url}/channel/edit/{created['id']}")
    page.get_by_label("Key", exact=True).fill("AKIA2|other-secret|eu-west-1")
    page.get_by_label("Secret access key").fill("other-secret")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/channel?saved=1")
    saved = gateway.services.cache.channels[created["id"]]
    assert saved.key == "AKIA2|other-secret|eu-west-1" and saved.config["sk"] == "other-secret"
    assert page.goto(f"{gateway.url}/channel/edit/999") is not None
    expect(page.get_by_role("heading", level=1)).to_have_text("404")


def test_list_tests_balances_and_actions(gateway: Gateway, page: Page, mock: OpenAIMock, mock_url: str) -> None:
    balances, server = balance_mock.shared()
    balances.reset()
    good = gateway.add_channel(mock_url, name="good", models="gpt-4o-mini,gpt-3.5-turbo")
    billed = gateway.add_channel(server.url, name="billed", models="gpt-4o-mini")
    gateway.api("PUT", "/api/channel/", json={"id": billed, "status": 2})
    mock.plan("gpt-3.5-turbo", status=500)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    sign_in(page, gateway)
    page.goto(gateway.url + "/channel")
    good_row = page.locator(f"tr[data-channel='{good}']")
    billed_row = page.locator(f"tr[data-channel='{billed}']")
    expect(billed_row.locator(".badge").first).to_have_text("Disabled")
    expect(good_row).to_contain_text("Not tested")

    # Inline priority and weight.
    def saved() -> Any:
        return page.expect_response(lambda r: r.url.endswith("/api/channel/") and r.request.method == "PUT")

    good_row.get_by_label("Priority of good").fill("7")
    with saved():
        good_row.get_by_label("Priority of good").press("Enter")
    expect(page.locator(".toast").last).to_have_text("Saved")
    good_row.get_by_label("Weight of good").fill("4")
    with saved():
        good_row.get_by_label("Weight of good").press("Tab")  # leaving the field saves it too
    assert (channel(gateway, good)["priority"], channel(gateway, good)["weight"]) == (7, 4)

    # One model, then every model of the channel, each with its result and latency.
    good_row.get_by_role("button", name="Test good").focus()  # by keyboard: Enter opens, Escape closes
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Test channel good")
    expect(dialog.get_by_label("Model")).to_have_value("gpt-3.5-turbo")
    expect(dialog.locator("#test-summary")).to_have_text("No results yet. Pick a model and run a test.")
    dialog.get_by_label("Model").select_option("gpt-4o-mini")
    dialog.get_by_role("button", name="Run test").click()
    expect(dialog.locator("#test-summary")).to_have_text("1 of 1 passed")
    expect(dialog.locator("#test-results tr").filter(has_text="gpt-4o-mini")).to_contain_text("Passed")
    expect(good_row.locator("[data-response-for] .badge")).to_contain_text(" s")
    dialog.get_by_label("Model").select_option(label="All models (2)")
    dialog.get_by_role("button", name="Run test").click()
    expect(dialog.locator("#test-summary")).to_have_text("1 of 2 passed")
    failed = dialog.locator("#test-results tr").filter(has_text="gpt-3.5-turbo")
    expect(failed.locator(".badge")).to_have_text("Failed")
    expect(failed).to_contain_text("mock failure 500")
    screenshot(page, "channels-test")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Balances: one channel, then every enabled one.
    billed_row.get_by_role("button", name="Update the balance of billed").click()
    expect(billed_row.locator(f"[data-balance-for='{billed}']")).to_have_text("$99.50")
    expect(good_row.get_by_role("button", name="Update the balance of good")).to_be_visible()
    page.get_by_role("button", name="Update all balances").click()
    expect(page.locator("#operation-text")).to_contain_text("Updated 0 balances; 1 failed")
    expect(page.locator("#operation-details")).to_contain_text("good")

    # A run over the disabled channels shows its progress to the end.
    page.get_by_role("button", name="Test disabled channels").click()
    expect(page.locator("#operation-text")).to_have_text("Finished: 0 passed, 1 failed.")
    expect(page.locator("#operation-progress")).to_have_attribute("value", "1")
    screenshot(page, "channels-list")

    billed_row.get_by_role("button", name="Enable billed").click()
    expect(billed_row.locator(".badge").first).to_have_text("Enabled")
    good_row.get_by_role("button", name="Disable good").click()
    expect(good_row.locator(".badge").first).to_have_text("Disabled")
    page.get_by_role("button", name="Delete disabled channels").click()
    expect(good_row).to_have_count(0)
    assert alerts == ["Delete the disabled channels (1)? This cannot be undone."]
    billed_row.get_by_role("button", name="Delete billed").click()
    expect(page.get_by_text("No channels yet.")).to_be_visible()
    assert all_channels(gateway) == []


def test_search_pages_escaping_access_and_phone(gateway: Gateway, page: Page, browser: Browser) -> None:
    for number in range(22):
        gateway.add_channel("http://127.0.0.1:9", name=f"bulk {number:02d}")
    evil = gateway.add_channel("http://127.0.0.1:9", name=EVIL)
    gateway.api("POST", "/api/user/", json={"username": "alice", "password": "user-password-1"})
    sign_in(page, gateway)
    page.goto(gateway.url + "/channel")
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2 · 23 in all")
    row = page.locator(f"tr[data-channel='{evil}']")
    expect(row.locator(".name")).to_have_text(EVIL)  # text, not markup
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    page.get_by_label("Search channels").fill("bulk 1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(10)
    page.get_by_label("Status").select_option("disabled")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No channel matches.")).to_be_visible()
    page.goto(f"{gateway.url}/channel/edit/{evil}")
    expect(page.get_by_label("Name")).to_have_value(EVIL)
    assert page.evaluate("document.querySelectorAll('script:not([src]):not([type])').length") == 1

    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    phone = context.new_page()
    try:
        sign_in(phone, gateway, "alice", "user-password-1")
        for path in ("/channel", "/channel/add", f"/channel/edit/{evil}"):
            response = phone.goto(gateway.url + path)
            assert response is not None and response.status == 403
        context.clear_cookies()
        sign_in(phone, gateway)
        phone.goto(gateway.url + "/channel")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        expect(phone.get_by_role("button", name="Test all channels")).to_be_visible()
        # Each row is a card on a phone: its actions are in reach without scrolling sideways.
        row = phone.locator("tbody tr").first
        for action in (row.get_by_role("button", name="Test "), row.get_by_role("link", name="Edit "),
                       row.get_by_role("button", name="Delete ")):
            in_reach(phone, action)
        screenshot(phone, "channels-phone")
        phone.goto(gateway.url + "/channel/add")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(phone, "channels-edit-phone")
        phone.goto(gateway.url + "/lang?to=zh&next=/channel/add")
        expect(phone.get_by_role("heading", level=1)).to_have_text("添加渠道")
        expect(phone.get_by_label("类型")).to_contain_text("阿里通义千问")
    finally:
        context.close()


def test_server_messages_are_in_the_consoles_language(gateway: Gateway, browser: Browser) -> None:
    """What the server refuses reads in Chinese in the Chinese console, as its own texts do."""
    context = browser.new_context(locale="zh-CN")
    tab = context.new_page()
    try:
        tab.goto(gateway.url + "/login")
        tab.get_by_label("用户名或邮箱").fill("root")
        tab.get_by_label("密码").fill(ROOT_PASSWORD)
        tab.get_by_role("button", name="登录", exact=True).click()
        tab.wait_for_url("**/dashboard")
        tab.goto(gateway.url + "/channel/add")
        tab.get_by_label("名称").fill("ftp")
        tab.get_by_label("密钥", exact=True).fill("sk-x")
        tab.get_by_label("Base URL").fill("ftp://files.example")
        tab.get_by_role("button", name="添加渠道").click()
        expect(tab.locator("#form-error")).to_have_text("base_url 必须以 http:// 或 https:// 开头")
        assert all_channels(gateway) == []
    finally:
        context.close()
