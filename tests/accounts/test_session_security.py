"""Session cookies: their flags, and sessions that logout, password changes, disabling and deletion really end."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import httpx

from tests.admin.support import PASSWORD, data, dicts, refused
from tests.harness import ROOT_PASSWORD, Gateway, settings_for


def copy_of(gateway: Gateway, client: httpx.Client) -> httpx.Client:
    """Another client holding the same cookies (a stolen cookie, or the same browser's other tab)."""
    return httpx.Client(base_url=gateway.url, cookies=dict(client.cookies))


def cookie_header(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


def test_cookie_flags(gateway: Gateway) -> None:
    """The session cookie is HttpOnly and SameSite=Lax; the CSRF cookie is readable by the page; no Secure on HTTP."""
    with httpx.Client(base_url=gateway.url) as client:
        response = client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        session, token = cookie_header(response, "session"), cookie_header(response, "tollway_csrf")
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session and "Secure" not in session
    assert "HttpOnly" not in token and "SameSite=Lax" in token


def test_secure_behind_https(gateway: Gateway) -> None:
    """Secure is set when the request came over HTTPS, as a trusted proxy says."""
    with httpx.Client(base_url=gateway.url, headers={"X-Forwarded-Proto": "https"}) as client:
        response = client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        assert "Secure" in cookie_header(response, "session") and "Secure" in cookie_header(response, "tollway_csrf")


def test_an_https_server_address_does_not_make_plain_http_cookies_secure(gateway: Gateway) -> None:
    """An imported ServerAddress of https://... leaves the cookie usable over plain HTTP on the server's address
    (a browser drops a Secure cookie there, so the sign-in would not stick)."""
    data(gateway.admin.put("/api/option/", json={"key": "ServerAddress", "value": "https://gw.example"}))
    with httpx.Client(base_url=gateway.url) as client:
        response = client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        assert "Secure" not in cookie_header(response, "session")
        assert "Secure" not in cookie_header(response, "tollway_csrf")
        assert data(client.get("/api/user/self"))["username"] == "root"


def test_logout_ends_the_session_not_only_the_cookie(gateway: Gateway) -> None:
    """A copy of the cookie taken before logout no longer works; other sessions of the user do."""
    _, first = gateway.create_user("ivan", password=PASSWORD)
    second = gateway.sign_in("ivan", PASSWORD)
    stolen = copy_of(gateway, first)
    with closing(first), closing(second), closing(stolen):
        data(first.get("/api/user/logout"))
        refused(first.get("/api/user/self"), 401)
        refused(stolen.get("/api/user/self"), 401)
        data(second.get("/api/user/self"))
    assert len(dicts(gateway, "SELECT * FROM tollway_sessions WHERE user_id = 2")) == 1


def test_password_change_ends_other_sessions(gateway: Gateway) -> None:
    """Changing one's password keeps this session and ends every other; an admin's change ends all of them."""
    user_id, mine = gateway.create_user("judy", password=PASSWORD)
    other = gateway.sign_in("judy", PASSWORD)
    with closing(mine), closing(other):
        data(mine.put("/api/user/self", json={"password": "brand-new-password"}))
        data(mine.get("/api/user/self"))
        refused(other.get("/api/user/self"), 401)
        data(mine.put("/api/user/self", json={"display_name": "J"}))  # no password: nobody signed out
        data(mine.get("/api/user/self"))
        data(gateway.admin.put("/api/user/", json={"id": user_id, "password": "admin-set-password"}))
        refused(mine.get("/api/user/self"), 401)


def test_disable_and_delete_end_sessions(gateway: Gateway) -> None:
    """Disabling ends the sessions for good (enabling again does not revive them); deleting too."""
    _, client = gateway.create_user("kim", password=PASSWORD)
    with closing(client):
        data(gateway.admin.post("/api/user/manage", json={"username": "kim", "action": "disable"}))
        data(gateway.admin.post("/api/user/manage", json={"username": "kim", "action": "enable"}))
        refused(client.get("/api/user/self"), 401)
    user_id, client = gateway.create_user("lee", password=PASSWORD)
    with closing(client):
        data(gateway.admin.delete(f"/api/user/{user_id}"))
        refused(client.get("/api/user/self"), 401)
    assert dicts(gateway, "SELECT * FROM tollway_sessions WHERE user_id = ?", user_id) == []


def test_sessions_across_nodes(tmp_path: Path) -> None:
    """A session opened on one node works on another; ending it on one ends it on the other at its next refresh."""
    first = Gateway(settings_for(tmp_path))
    second = Gateway(settings_for(tmp_path))
    try:
        client = first.sign_in("root", ROOT_PASSWORD)
        elsewhere = httpx.Client(base_url=second.url, cookies=dict(client.cookies))
        with closing(client), closing(elsewhere):
            assert data(elsewhere.get("/api/user/self"))["username"] == "root"
            data(client.get("/api/user/logout"))
            second.server.run(second.services.accounts.sessions.refresh())
            refused(elsewhere.get("/api/user/self"), 401)
    finally:
        second.close()
        first.close()


def test_login_replaces_the_previous_session(gateway: Gateway) -> None:
    """Signing in issues a new session id (no fixation): the cookie held before does not become signed in."""
    with httpx.Client(base_url=gateway.url) as client:
        data(client.get("/api/oauth/state"))  # an anonymous session cookie
        before = dict(client.cookies)
        data(client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD}))
        assert client.cookies["session"] != before["session"]
    with httpx.Client(base_url=gateway.url, cookies=before) as old:
        refused(old.get("/api/user/self"), 401)
