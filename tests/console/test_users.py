"""User pages in a real browser: add, sort, search, One API's manage actions, edit with group and quota, roles."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import screenshot, sign_in
from tests.harness import Gateway

EVIL = "<script>alert(1)</script>"
PASSWORD = "user-password-1"


def make_user(gateway: Gateway, username: str, quota: int = 0) -> int:
    """A common user made through the API (without signing them in, which costs a password hash)."""
    user_id = int(gateway.api("POST", "/api/user/", json={"username": username, "password": PASSWORD})["id"])
    if quota:
        gateway.api("PUT", "/api/user/", json={"id": user_id, "quota": quota})
    return user_id


def user(gateway: Gateway, user_id: int) -> dict[str, Any]:
    found: dict[str, Any] = gateway.api("GET", f"/api/user/{user_id}")
    return found


def test_add_sort_search_and_manage(gateway: Gateway, page: Page) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.accept()))
    rich = make_user(gateway, "rich", quota=9_000_000)
    poor = make_user(gateway, "poor", quota=1_000)
    sign_in(page, gateway)
    page.get_by_role("navigation").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add user").click()
    page.wait_for_url("**/user/add")
    page.get_by_label("Username").fill(EVIL)
    page.get_by_label("Display name").fill("Mallory")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Add user").click()  # refused by the browser: too short
    assert page.evaluate("!document.getElementById('password').checkValidity()")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    page.wait_for_url("**/user")
    expect(page.locator(".toast")).to_have_text("User added")  # the message outlives the page that asked for it
    evil = next(u for u in gateway.api("GET", "/api/user/?size=100") if u["username"] == EVIL)
    assert evil["display_name"] == "Mallory" and evil["role"] == 1

    rows = page.locator("tbody tr")
    expect(rows.first.locator(".name").first).to_have_text(EVIL)  # newest first, shown as text
    page.get_by_label("Sort by").select_option(label="Remaining quota")
    page.get_by_role("button", name="Search").click()
    expect(rows.nth(1)).to_have_attribute("data-user", str(rich))  # after root's quota
    expect(page.get_by_role("columnheader", name="Remaining quota")).to_have_attribute("aria-sort", "descending")
    expect(rows.nth(1)).to_contain_text("$18")
    screenshot(page, "users-list")
    page.get_by_label("Search users").fill("po")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-user", str(poor))
    page.get_by_role("link", name="Show all").click()

    row = page.locator(f"tr[data-user='{poor}']")
    root_row = page.locator("tr[data-user='1']")
    expect(root_row.get_by_role("button")).to_have_count(0)  # root cannot be disabled, demoted or deleted
    row.get_by_role("button", name="Promote").click()
    expect(row.locator(".badge").first).to_have_text("Administrator")
    assert user(gateway, poor)["role"] == 10
    row.get_by_role("button", name="Demote").click()
    expect(row.locator(".badge").first).to_have_text("Common user")
    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".badge").nth(1)).to_have_text("Disabled")
    assert user(gateway, poor)["status"] == 2
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".badge").nth(1)).to_have_text("Enabled")
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert alerts == ["Make poor an administrator?", "Make poor a common user?",
                      "Delete user poor? Their tokens stop working."]
    assert all(u["id"] != poor for u in gateway.api("GET", "/api/user/?size=100"))


def test_edit_a_user(gateway: Gateway, page: Page) -> None:
    gateway.api("PUT", "/api/option/", json={"key": "GroupRatio", "value": '{"default": 1, "vip": 2}'})
    bob = make_user(gateway, "bob", quota=500_000)
    sign_in(page, gateway)
    page.goto(f"{gateway.url}/user/edit/{bob}")
    expect(page.get_by_label("Username")).to_have_value("bob")
    expect(page.get_by_label("Remaining quota")).to_have_value("500000")
    expect(page.locator("#quota-hint")).to_have_text("In raw quota units: $1")
    page.get_by_label("Display name").fill("Bob B.")
    page.get_by_label("Group", exact=True).select_option("vip")
    page.get_by_label("Remaining quota").fill("2500000")
    expect(page.locator("#quota-hint")).to_have_text("In raw quota units: $5")
    page.get_by_label("New password").fill("a-new-password")
    page.get_by_label("Email").fill("bob@example.com")
    screenshot(page, "users-edit")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/user")
    saved = user(gateway, bob)
    assert (saved["display_name"], saved["group"], saved["quota"], saved["email"]) == (
        "Bob B.", "vip", 2_500_000, "bob@example.com")
    gateway.sign_in("bob", "a-new-password").close()

    # Saving without touching the quota leaves quota spent meanwhile alone; a top-up adds to it.
    page.goto(f"{gateway.url}/user/edit/{bob}")
    gateway.api("PUT", "/api/user/", json={"id": bob, "quota": 2_000_000})
    page.get_by_label("Display name").fill("Bobby")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/user")
    assert (user(gateway, bob)["display_name"], user(gateway, bob)["quota"]) == ("Bobby", 2_000_000)
    page.goto(f"{gateway.url}/user/edit/{bob}")
    page.get_by_label("Amount").fill("1000")
    page.get_by_label("Remark").fill("bonus")
    page.get_by_role("button", name="Add quota").click()
    expect(page.get_by_role("definition").filter(has_text="$4.002")).to_be_visible()
    assert user(gateway, bob)["quota"] == 2_001_000
    page.get_by_label("Username").fill("bad name")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast.error")).to_contain_text("username must be")
    assert page.goto(f"{gateway.url}/user/edit/9999") is not None
    expect(page.get_by_role("heading", level=1)).to_have_text("404")


def test_roles_decide_what_an_admin_sees(gateway: Gateway, page: Page, browser: Browser) -> None:
    make_user(gateway, "admin1")
    gateway.api("POST", "/api/user/manage", json={"username": "admin1", "action": "promote"})
    other = make_user(gateway, "admin2")
    gateway.api("POST", "/api/user/manage", json={"username": "admin2", "action": "promote"})
    carol = make_user(gateway, "carol")
    sign_in(page, gateway, "admin1", PASSWORD)
    page.goto(gateway.url + "/user")
    expect(page.locator(f"tr[data-user='{carol}']").get_by_role("button", name="Disable")).to_be_visible()
    expect(page.get_by_role("button", name="Promote")).to_have_count(0)  # root only
    expect(page.locator(f"tr[data-user='{other}']").get_by_role("button")).to_have_count(0)
    expect(page.locator(f"tr[data-user='{other}']").get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto(f"{gateway.url}/user/edit/{other}")
    assert response is not None and response.status == 403
    expect(page.get_by_text("You cannot view or change a user of the same or a higher role.")).to_be_visible()

    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    phone = context.new_page()
    try:
        sign_in(phone, gateway, "carol", PASSWORD)
        for path in ("/user", "/user/add", f"/user/edit/{carol}"):
            answer = phone.goto(gateway.url + path)
            assert answer is not None and answer.status == 403
        context.clear_cookies()
        sign_in(phone, gateway)
        phone.goto(gateway.url + "/user")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        phone.goto(f"{gateway.url}/user/edit/{carol}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(phone, "users-edit-phone")
    finally:
        context.close()
