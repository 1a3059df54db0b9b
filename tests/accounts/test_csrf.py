"""CSRF: a page on another site cannot make a signed-in browser change anything; the console's ways all work."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.admin.support import data, refused, snapshot, token_client
from tests.harness import ROOT_PASSWORD, Gateway

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@pytest.fixture
def browser(gateway: Gateway) -> Iterator[httpx.Client]:
    """Root signed in by cookie."""
    client = gateway.sign_in("root", ROOT_PASSWORD)
    yield client
    client.close()


def test_cross_site_writes_are_refused(gateway: Gateway, browser: httpx.Client) -> None:
    """POST, PUT, DELETE and state-changing GETs from another site get 403 and change nothing."""
    before = snapshot(gateway)
    for headers in (EVIL, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"},
                    {"Origin": "null"}):
        refused(browser.post("/api/token/", json={"name": "forged"}, headers=headers), 403, "cross-site")
        refused(browser.put("/api/user/self", json={"display_name": "pwned"}, headers=headers), 403)
        refused(browser.delete("/api/user/2", headers=headers), 403)
        refused(browser.get("/api/user/token", headers=headers), 403)
        refused(browser.get("/api/oauth/wechat/bind", params={"code": "x"}, headers=headers), 403)
    assert snapshot(gateway) == before
    data(browser.get("/api/user/self", headers=EVIL))  # reading is not forgery (and CORS hides the answer)


def test_same_origin_and_tokens_pass(gateway: Gateway, browser: httpx.Client) -> None:
    """Same-origin fetches, the X-CSRF-Token header and the csrf_token form field are accepted."""
    token = browser.cookies["tollway_csrf"]
    data(browser.post("/api/token/", json={"name": "fetch"}, headers={"Sec-Fetch-Site": "same-origin"}))
    data(browser.post("/api/token/", json={"name": "origin"}, headers={"Origin": gateway.url}))
    data(browser.post("/api/token/", json={"name": "header"}, headers={**EVIL, "X-CSRF-Token": token}))
    refused(browser.post("/api/token/", json={"name": "bad"}, headers={**EVIL, "X-CSRF-Token": token + "x"}), 403)
    data(browser.get("/api/user/token", headers={"Sec-Fetch-Site": "none"}))  # typed into the address bar
    # A form post carries the token as a hidden field; the body still reaches the route.
    form = browser.post("/api/user/manage", content=f"csrf_token={token}&username=x".encode(),
                        headers={**EVIL, "Content-Type": "application/x-www-form-urlencoded"})
    refused(form, 200, "JSON")  # past the CSRF check: the route itself refuses a form body
    refused(browser.post("/api/user/manage", content=b"csrf_token=wrong",
                         headers={**EVIL, "Content-Type": "application/x-www-form-urlencoded"}), 403)
    names = {t["name"] for t in data(browser.get("/api/token/"))}
    assert {"fetch", "origin", "header"} <= names and "bad" not in names


def test_access_tokens_and_scripts_are_exempt(gateway: Gateway) -> None:
    """Requests signed by an access token, and clients that are no browser (no Origin, no Sec-Fetch-Site), pass."""
    with token_client(gateway, gateway.admin.headers["Authorization"]) as script:
        data(script.post("/api/token/", json={"name": "script"}, headers=EVIL))
    data(gateway.admin.post("/api/token/", json={"name": "plain"}))


def test_login_csrf_is_refused(gateway: Gateway) -> None:
    """Another site cannot sign a browser in to an account of its choosing."""
    with httpx.Client(base_url=gateway.url) as client:
        response = client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD}, headers=EVIL)
        refused(response, 403)
        assert "session" not in response.cookies


def test_logout_drops_the_csrf_cookie(gateway: Gateway, browser: httpx.Client) -> None:
    data(browser.get("/api/user/logout"))
    assert "tollway_csrf" not in browser.cookies and "session" not in browser.cookies
