"""Browser fixtures: a real headless Chromium (Debian's package) driven by Playwright against a running Tollway."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT_PASSWORD, Gateway, ci

playwright_api = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Chromium's own background traffic is refused on this closed network, so it is switched off.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


# Package scope, not session: Playwright's sync API keeps its event loop marked as running in the main
# thread while it is open, and pytest-asyncio cannot start a loop for the async tests that follow.
@pytest.fixture(scope="package")
def browser() -> Iterator[playwright_api.Browser]:
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (Debian package chromium); scripts/test installs it"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: playwright_api.Browser) -> Iterator[playwright_api.Page]:
    """A fresh browser context (no cookies) with an English browser language."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: playwright_api.Page, gateway: Gateway, username: str = "root",
            password: str = ROOT_PASSWORD) -> None:
    """Sign in through the sign-in page, as a person would."""
    page.goto(gateway.url + "/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/dashboard")


def in_reach(page: playwright_api.Page, element: playwright_api.Locator) -> None:
    """The element is on the screen's width without scrolling anything sideways (the page or a table's frame)."""
    box = element.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth)")


def screenshot(page: playwright_api.Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
