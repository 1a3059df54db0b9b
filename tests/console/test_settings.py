"""Settings pages in a real browser: one's own account, and root's operation, system and other options."""

from __future__ import annotations

import datetime
import re
import sqlite3
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import httpx
from playwright.sync_api import Browser, Dialog, Page, Route, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway
from tollway.console import settings_forms

SCRIPT = "<script>alert(1)</script>"


def accept_dialogs(page: Page) -> list[str]:
    """Accept every confirm() the page shows; answers the messages shown."""
    shown: list[str] = []

    def accept(dialog: Dialog) -> None:
        shown.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return shown


def option(gateway: Gateway, key: str) -> Any:
    return gateway.services.cache.options[key]


def test_option_forms_name_real_options() -> None:
    settings_forms.check_catalog()


def test_personal_settings(gateway: Gateway, page: Page) -> None:
    user_id, client = gateway.create_user("alice")
    client.close()
    shown = accept_dialogs(page)
    sign_in(page, gateway, "alice", "user-password-1")
    page.goto(gateway.url + "/setting")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.get_by_role("link", name="Operation")).to_have_count(0)  # root's tabs are not offered

    # Profile: a display name that is markup stays text, and the password must be typed twice alike.
    page.get_by_label("Display name").fill(SCRIPT)
    page.get_by_label("New password", exact=True).fill("new-password-1")
    page.get_by_label("Repeat the new password").fill("something else")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator(".toast.error")).to_contain_text("The two passwords differ.")
    page.get_by_label("Repeat the new password").fill("new-password-1")
    with page.expect_navigation():
        page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_label("Display name")).to_have_value(SCRIPT)
    assert gateway.api("GET", f"/api/user/{user_id}")["display_name"] == SCRIPT
    gateway.sign_in("alice", "new-password-1").close()

    # A new access token is shown once and works at once.
    page.get_by_role("button", name="Make a new access token").click()
    token = page.locator("#access-token-output code")
    expect(token).to_have_text(re.compile(r"^[\w-]{16,}$"))
    expect(page.locator("#access-token-status")).to_have_text("You have one")
    assert "stops working" in shown[-1]
    with httpx.Client(base_url=gateway.url, headers={"Authorization": token.inner_text()}) as client:
        assert client.get("/api/user/self").json()["data"]["username"] == "alice"

    # The invitation link carries the user's own code.
    page.get_by_role("button", name="Get my invitation link").click()
    link = page.locator("#invitation-output code")
    expect(link).to_contain_text("/register?aff=")
    aff = gateway.api("GET", f"/api/user/{user_id}")["aff_code"]
    expect(link).to_have_text(f"{gateway.url}/register?aff={aff}")
    screenshot(page, "settings-personal")

    # Root's tabs answer 403 to a common user.
    for tab in ("operation", "system", "other"):
        response = page.goto(f"{gateway.url}/setting/{tab}")
        assert response is not None and response.status == 403

    # Deleting the account needs the username typed, then signs out.
    page.goto(gateway.url + "/setting")
    page.get_by_label("Type your username to confirm").fill("bob")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".toast.error")).to_contain_text("Type your username exactly")
    page.get_by_label("Type your username to confirm").fill("alice")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(gateway.url + "/")
    failed = httpx.post(gateway.url + "/api/user/login", json={"username": "alice", "password": "new-password-1"})
    assert failed.json()["success"] is False


def test_root_has_no_delete_and_binds_with_github(gateway: Gateway, page: Page) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "GitHubClientId", "value": "client-123"})
    gateway.api("PUT", "/api/option/", json={"key": "GitHubOAuthEnabled", "value": "true"})
    sign_in(page, gateway)
    page.goto(gateway.url + "/setting")
    expect(page.get_by_role("heading", name="Delete my account")).to_have_count(0)
    expect(page.get_by_role("link", name="Personal")).to_have_attribute("aria-current", "page")
    for tab in ("Operation", "System", "Other"):
        expect(page.get_by_role("link", name=tab)).to_be_visible()
    requested: list[str] = []

    def github(route: Route) -> None:
        requested.append(route.request.url)
        route.fulfill(body="GitHub sign-in", content_type="text/plain")

    page.route("https://github.com/**", github)
    page.get_by_role("button", name="Bind a GitHub account").click()
    page.wait_for_url("https://github.com/**")
    query = parse_qs(urlsplit(requested[0]).query)
    assert query["client_id"] == ["client-123"] and query["state"][0]


def test_operation_settings(gateway: Gateway, page: Page) -> None:
    shown = accept_dialogs(page)
    sign_in(page, gateway)
    page.goto(gateway.url + "/setting/operation")
    quota = page.get_by_role("region", name="Quota")

    # Quota inputs take raw units and show their dollar value (DisplayInCurrencyEnabled is on by default).
    quota.get_by_label("Quota for a new user").fill("1000000")
    expect(quota.get_by_text("≈ $2")).to_be_visible()
    quota.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Saved")
    assert option(gateway, "QuotaForNewUser") == 1000000

    # JSON is checked before anything is sent; a valid table is saved.
    ratios = page.get_by_role("region", name="Ratios")
    group_ratio = ratios.get_by_label("Group ratios")
    group_ratio.fill('{"default": 1, "team": 0.5,}')
    ratios.get_by_role("button", name="Save").click()
    expect(ratios.get_by_role("alert")).to_contain_text("Group ratios: not valid JSON")
    expect(group_ratio).to_have_attribute("aria-invalid", "true")
    assert "team" not in option(gateway, "GroupRatio")
    group_ratio.fill('{"default": 1, "team": 0.5}')
    ratios.get_by_role("button", name="Format JSON").nth(2).click()
    expect(group_ratio).to_have_value('{\n  "default": 1,\n  "team": 0.5\n}')
    ratios.get_by_role("button", name="Save").click()
    expect(ratios.get_by_role("alert")).to_be_hidden()
    expect(page.locator(".toast").last).to_have_text("Saved")
    assert option(gateway, "GroupRatio") == {"default": 1.0, "team": 0.5}
    screenshot(page, "settings-operation")

    # Logs before a date are deleted (the system logs of this fresh gateway are all from today).
    gateway.api("POST", "/api/topup", json={"user_id": 1, "quota": 5, "remark": "a log entry"})
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    page.get_by_label("Delete logs created before").fill(tomorrow)
    page.get_by_role("button", name="Delete logs").click()
    expect(page.locator(".toast").last).to_have_text(re.compile(r"^Deleted [1-9]\d* log entries\.$"))
    assert tomorrow in shown[-1]
    assert gateway.api("GET", "/api/log/") == []


def test_system_settings_save_in_order_and_stop_at_a_refusal(gateway: Gateway, page: Page) -> None:
    sign_in(page, gateway)
    page.goto(gateway.url + "/setting/system")

    # Switching GitHub on together with its client id works: values are saved before switches are turned on.
    github = page.get_by_role("region", name="GitHub")
    github.get_by_label("Client ID").fill("gh-client")
    github.get_by_label("Client secret").fill("gh-secret")
    github.get_by_label("Allow sign-in with GitHub").check()
    github.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Saved")
    assert option(gateway, "GitHubOAuthEnabled") is True
    assert option(gateway, "GitHubClientSecret") == "gh-secret"
    expect(github.get_by_label("Client secret")).to_have_value("")  # secrets are never shown
    expect(github.get_by_text("Set", exact=True)).to_be_visible()

    # A refused value stops the group: the message shows next to the form and later fields are not saved.
    smtp = page.get_by_role("region", name="SMTP (email)")
    smtp.get_by_label("SMTP server").fill("smtp://mail.example.com:25")
    smtp.get_by_label("SMTP port").fill("2525")
    smtp.get_by_role("button", name="Save").click()
    expect(smtp.get_by_role("alert")).to_contain_text("SMTP server: option SMTPServer must be a host name")
    expect(smtp.get_by_role("alert")).to_contain_text("Nothing in this group was saved.")
    assert option(gateway, "SMTPPort") == 587
    smtp.get_by_label("SMTP server").fill("mail.example.com")
    smtp.get_by_role("button", name="Save").click()
    expect(smtp.get_by_role("alert")).to_be_hidden()
    expect(page.locator(".toast").last).to_have_text("Saved")
    assert (option(gateway, "SMTPServer"), option(gateway, "SMTPPort")) == ("mail.example.com", 2525)

    # The API's own rule shows too: restricting email domains needs a whitelist.
    domains = page.get_by_role("region", name="Email domains")
    domains.get_by_label("Allowed email domains").fill("")
    domains.get_by_label("Only accept addresses of these domains").check()
    domains.get_by_role("button", name="Save").click()
    expect(domains.get_by_role("alert")).to_contain_text("needs a whitelist first")
    expect(domains.get_by_role("alert")).to_contain_text("Saved before the refusal: Allowed email domains.")
    assert option(gateway, "EmailDomainRestrictionEnabled") is False
    screenshot(page, "settings-system")


def test_other_settings_preview_and_escaping(gateway: Gateway, browser: Browser) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "SystemName", "value": SCRIPT})
    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    page = context.new_page()
    try:
        alerts = accept_dialogs(page)
        sign_in(page, gateway)
        page.goto(gateway.url + "/setting/other")
        branding = page.get_by_role("region", name="Branding")
        expect(branding.get_by_label("System name")).to_have_value(SCRIPT)

        notice = page.get_by_role("region", name="Notice")
        notice.get_by_label("Notice").fill(f"**Maintenance** tonight {SCRIPT}")
        notice.get_by_role("button", name="Preview").click()
        preview = notice.locator(".preview")
        expect(preview.locator("strong")).to_have_text("Maintenance")
        expect(preview).to_contain_text(SCRIPT)
        notice.get_by_role("button", name="Save").click()
        expect(page.locator(".toast").last).to_have_text("Saved")
        assert option(gateway, "Notice") == f"**Maintenance** tonight {SCRIPT}"
        assert alerts == []  # nothing rendered ran as script

        home = page.get_by_role("region", name="Home page")
        home.get_by_label("Home page content").fill("https://intra.example.com")
        home.get_by_role("button", name="Preview").click()
        expect(home.locator(".preview")).to_have_text("This page will show https://intra.example.com in a frame.")

        # Usable on a phone: no sideways scrolling of the page itself.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        screenshot(page, "settings-other-phone")
    finally:
        context.close()


def test_preview_is_root_only(gateway: Gateway) -> None:
    _, client = gateway.create_user("carol")
    try:
        answer = client.post("/setting/preview", json={"text": "hi"}, headers={"Sec-Fetch-Site": "same-origin"})
    finally:
        client.close()
    assert answer.status_code == 403
    # An access token is not a console session.
    assert gateway.admin.post("/setting/preview", json={"text": "hi"}).status_code == 403


def test_a_weak_password_is_impossible_to_miss(gateway: Gateway, page: Page) -> None:
    """One API's 123456 still signs root in after a takeover, with a banner on every page until it is changed."""
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn, conn:
        conn.execute("UPDATE users SET password = ? WHERE username = 'root'",
                     (bcrypt.hashpw(b"123456", bcrypt.gensalt(rounds=4)).decode(),))
    sign_in(page, gateway, "root", "123456")
    banner = page.get_by_role("alert").filter(has_text="Your password is weak")
    expect(banner).to_be_visible()
    page.goto(gateway.url + "/token")
    expect(banner).to_be_visible()
    banner.get_by_role("link", name="Change it now").click()
    page.wait_for_url("**/setting")
    page.get_by_label("New password", exact=True).fill("a much better passphrase")
    page.get_by_label("Repeat the new password").fill("a much better passphrase")
    with page.expect_navigation():
        page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_label("Display name")).to_be_visible()
    expect(banner).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(gateway.url + "/")
    sign_in(page, gateway, "root", "a much better passphrase")
    expect(banner).to_have_count(0)
