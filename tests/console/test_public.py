"""Public pages in a real browser: sign-in, languages, escaping of operator content, 404s and access rules."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway


def test_sign_in_and_out(gateway: Gateway, page: Page) -> None:
    page.goto(gateway.url + "/login")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".toast.error")).to_contain_text("wrong username or password")
    sign_in(page, gateway)
    expect(page.locator(".who")).to_have_text("root")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(gateway.url + "/")
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()


def test_private_pages_send_anonymous_visitors_to_sign_in(gateway: Gateway, page: Page) -> None:
    page.goto(gateway.url + "/chat")
    page.wait_for_url("**/login?next=%2Fchat")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill("root-password-for-tests")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/chat")


def test_language_follows_the_browser_and_can_be_switched(gateway: Gateway, browser: Browser) -> None:
    context = browser.new_context(locale="zh-CN")
    tab = context.new_page()
    try:
        tab.goto(gateway.url + "/login")
        expect(tab.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(tab.get_by_role("heading", level=1)).to_have_text("登录")
        tab.get_by_label("语言").select_option("en")
        tab.wait_for_load_state()
        expect(tab.get_by_role("heading", level=1)).to_have_text("Sign in")
        screenshot(tab, "login")
    finally:
        context.close()


def test_operator_content_is_rendered_safely(gateway: Gateway, page: Page) -> None:
    notice = "**Maintenance** tonight <script>window.pwned=1</script>"
    gateway.api("PUT", "/api/option/", json={"key": "Notice", "value": notice})
    gateway.api("PUT", "/api/option/", json={"key": "SystemName", "value": "<b>Acme</b> AI"})
    page.goto(gateway.url + "/")
    expect(page.locator(".notice strong")).to_have_text("Maintenance")
    expect(page.locator(".notice")).to_contain_text("<script>window.pwned=1</script>")
    assert page.evaluate("window.pwned") is None
    expect(page.locator(".brand")).to_contain_text("<b>Acme</b> AI")


def test_unknown_pages_answer_404(gateway: Gateway, page: Page) -> None:
    response = page.goto(gateway.url + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("404")


def test_favicon(gateway: Gateway, page: Page) -> None:
    answer = page.request.get(gateway.url + "/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"] == "image/x-icon"
    assert answer.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page.goto(gateway.url + "/login")
    expect(page.locator("link[rel=icon]")).to_have_attribute("href", "/favicon.ico")


def test_switching_language_keeps_the_filters(gateway: Gateway, page: Page) -> None:
    sign_in(page, gateway)
    page.goto(gateway.url + "/log?model_name=gpt-4o-mini&type=2")
    page.get_by_label("Language").select_option("zh")
    page.wait_for_url("**/log?model_name=gpt-4o-mini&type=2")
    expect(page.get_by_label("模型名称")).to_have_value("gpt-4o-mini")
