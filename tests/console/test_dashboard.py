"""Dashboard in a real browser: one's figures, server-drawn 7-day charts with their tables, everyone's for admins."""

from __future__ import annotations

import datetime
import time

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway
from tollway.console.charts import ticks

PASSWORD = "user-password-1"
EVIL = "<script>alert(1)</script>"
DAY = 86400


def label(at: int) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d")


def plant(gateway: Gateway, user_id: int, username: str, at: int, model: str, quota: int, *, kind: int = 2) -> None:
    gateway.services.keeper.add_log({"user_id": user_id, "username": username, "created_at": at, "type": kind,
                                     "content": "", "token_name": "t", "model_name": model, "quota": quota,
                                     "prompt_tokens": 100, "completion_tokens": 40, "channel_id": 1})


def usage(gateway: Gateway) -> int:
    """alice used two models today and one two days ago; bob one model today; older and top-up logs do not count."""
    now = int(time.time())
    alice_id, _ = gateway.create_user("alice", quota=1_000_000)
    bob_id, _ = gateway.create_user("bob")
    for _ in range(3):
        plant(gateway, alice_id, "alice", now, "gpt-4o-mini", 50_000)
    plant(gateway, alice_id, "alice", now, EVIL, 25_000)
    plant(gateway, alice_id, "alice", now - 2 * DAY, "gpt-4o-mini", 100_000)
    plant(gateway, alice_id, "alice", now - 9 * DAY, "o3", 900_000)  # before the last 7 days
    plant(gateway, alice_id, "alice", now, "", 5_000_000, kind=1)  # a top-up is no usage
    plant(gateway, bob_id, "bob", now, "claude-3-haiku", 250_000)
    gateway.flush()
    return now


def test_own_figures_charts_and_tables(gateway: Gateway, page: Page) -> None:
    now = usage(gateway)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    sign_in(page, gateway, "alice", PASSWORD)  # signing in lands on the dashboard
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")).to_have_attribute(
        "aria-current", "page")
    figures = page.get_by_role("region", name="Figures")
    expect(figures.locator(".stat").filter(has_text="Quota left").locator(".value")).to_have_text("$2")
    expect(figures.locator(".stat").filter(has_text="Requests, last 7 days").locator(".value")).to_have_text("5")
    expect(figures.locator(".stat").filter(has_text="Quota used, last 7 days").locator(".value")).to_have_text("$0.55")
    expect(page.get_by_role("link", name="Everyone")).to_have_count(0)

    charts = page.get_by_role("img")
    expect(charts).to_have_count(4)
    expect(page.get_by_role("img", name="Requests per day, last 7 days: 5 in all")).to_be_visible()
    expect(page.get_by_role("img", name="Quota used by model, last 7 days: 2 models")).to_be_visible()
    expect(page.locator("#chart-requests-title + line ~ rect")).to_have_count(2)  # two days with calls
    expect(page.locator("svg rect title").first).to_contain_text(":")
    # Quota scales say their unit: dollars here, as the figures do.
    for chart in ("chart-quota", "chart-models"):
        scale = page.locator(f"svg[aria-labelledby='{chart}-title'] > text[text-anchor]").all_text_contents()
        assert scale and all(text.startswith("$") for text in scale[:3] if text), scale

    by_day = page.get_by_role("table", name="By day")
    expect(by_day.locator("tbody tr")).to_have_count(7)
    today = by_day.get_by_role("row").filter(has=page.get_by_role("rowheader", name=label(now)))
    expect(today.get_by_role("cell")).to_have_text(["4", "400", "160", "$0.35"])
    by_model = page.get_by_role("table", name="By model")
    expect(by_model.get_by_role("rowheader")).to_have_text(["gpt-4o-mini", EVIL])  # busiest first; shown as text
    expect(page.locator("svg text").filter(has_text=EVIL[:18])).to_have_count(1)
    assert alerts == []
    screenshot(page, "dashboard")

    response = page.goto(gateway.url + "/dashboard?scope=all")  # everyone's usage is for admins
    assert response is not None and response.status == 403


def test_admins_switch_to_everyone(gateway: Gateway, page: Page) -> None:
    usage(gateway)
    sign_in(page, gateway)
    page.get_by_role("link", name="Everyone").click()
    page.wait_for_url("**/dashboard?scope=all")
    expect(page.get_by_role("link", name="Everyone")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("img", name="Requests per day, last 7 days: 6 in all")).to_be_visible()
    expect(page.get_by_role("table", name="By model").get_by_role("rowheader")).to_have_text(
        ["gpt-4o-mini", "claude-3-haiku", EVIL])
    page.get_by_label("Only this user").fill("bob")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Requests per day, last 7 days: 1 in all")).to_be_visible()
    page.get_by_label("Only this user").fill("nobody")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("There is no user named nobody.")).to_be_visible()


def test_dashboard_in_chinese_on_a_phone(gateway: Gateway, browser: Browser) -> None:
    usage(gateway)
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 740})
    tab = context.new_page()
    try:
        tab.goto(gateway.url + "/login")
        tab.get_by_label("用户名或邮箱").fill("alice")
        tab.get_by_label("密码").fill(PASSWORD)
        tab.get_by_role("button", name="登录", exact=True).click()
        tab.wait_for_url("**/dashboard")
        expect(tab.get_by_role("heading", level=1)).to_have_text("仪表盘")
        expect(tab.get_by_role("img", name="近 7 天每日请求次数：共 5")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_chart_scales_are_round() -> None:
    assert ticks(7, whole=True) == [0, 2, 4, 6, 8]
    assert ticks(0, whole=True) == [0, 1]
    assert ticks(3, whole=True) == [0, 1, 2, 3]
    assert ticks(0.0123, whole=False) == [0, 0.005, 0.01, 0.015]
    assert ticks(1_000_000, whole=True) == [0, 250_000, 500_000, 750_000, 1_000_000]


# Every drawn label of every chart inside its chart and clear of the others; every figure on one line and in its box.
_LAID_OUT = """() => {
  const clear = (a, b) => a.right <= b.left + 0.5 || b.right <= a.left + 0.5 || a.bottom <= b.top + 0.5
    || b.bottom <= a.top + 0.5;
  const charts = [...document.querySelectorAll("svg[role=img]")].map((svg) => {
    const box = svg.getBoundingClientRect();
    const labels = [...svg.querySelectorAll("text")].filter((t) => t.getBBox().width > 0)
      .map((t) => t.getBoundingClientRect());
    return labels.every((r) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5)
      && labels.every((a, i) => labels.slice(i + 1).every((b) => clear(a, b)));
  });
  const figures = [...document.querySelectorAll(".stat .value")].map((v) => v.scrollWidth <= v.clientWidth + 1
    && v.getBoundingClientRect().height < 2 * parseFloat(getComputedStyle(v).fontSize));
  return {charts, figures};
}"""


def test_big_figures_and_long_names_on_a_phone(gateway: Gateway, browser: Browser) -> None:
    """Root's quota in raw units is 19 characters: it stays on one line; model names never cover one another."""
    gateway.api("PUT", "/api/option/", json={"key": "DisplayInCurrencyEnabled", "value": "false"})
    now = int(time.time())
    for name, quota in (("claude-3-5-sonnet-20241022-with-a-long-deployment-name", 123_456_789),
                        ("gpt-4o-mini-2024-07-18", 98_765_432), ("通义千问-Max-最新", 7_654_321)):
        plant(gateway, 1, "root", now, name, quota)
    gateway.flush()
    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    tab = context.new_page()
    try:
        sign_in(tab, gateway)
        expect(tab.locator("#stat-balance")).to_have_text("500,000,000,000,000")
        laid_out = tab.evaluate(_LAID_OUT)
        assert all(laid_out["charts"]) and len(laid_out["charts"]) == 4, laid_out
        assert all(laid_out["figures"]) and len(laid_out["figures"]) == 6, laid_out
        scale = tab.locator("svg[aria-labelledby='chart-quota-title'] > text[text-anchor=end]").all_text_contents()
        assert scale[-1].endswith("M"), scale  # 200M, not 200,000,000
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(tab, "dashboard-phone")
    finally:
        context.close()
