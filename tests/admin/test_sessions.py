"""Signing in and out, one's own profile, access tokens, invitation codes and one's available models."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import bcrypt
import httpx

from tests.admin.support import PASSWORD, ROOT_ID, data, refused, row, token_client
from tests.harness import ROOT_ACCESS_TOKEN, ROOT_PASSWORD, Gateway


def login(gateway: Gateway, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """A fresh client and its answer to POST /api/user/login."""
    client = httpx.Client(base_url=gateway.url, timeout=30)
    return client, client.post("/api/user/login", json={"username": username, "password": password})


def test_login_sets_session_cookie_and_logout_clears_it(gateway: Gateway) -> None:
    """A good login answers the user (no secrets) and a `session` cookie that then signs requests."""
    client, response = login(gateway, "root", ROOT_PASSWORD)
    with closing(client):
        user = data(response)
        assert user == {"id": ROOT_ID, "username": "root", "display_name": "Root User", "role": 100, "status": 1,
                        "group": "default"}
        assert "session" in response.cookies
        assert "httponly" in response.headers["set-cookie"].lower()
        assert data(client.get("/api/user/self"))["username"] == "root"
        assert data(client.get("/api/user/logout")) is None
        refused(client.get("/api/user/self"), 401)
        # Logging out when not signed in is harmless, as in One API.
        data(client.get("/api/user/logout"))


def test_login_refusals(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """Wrong password, unknown user, missing fields and bad JSON are refused with no cookie set."""
    attempts: list[object] = [
        {"username": "alice", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice", "password": ""},
        {"username": "", "password": PASSWORD},
        {"username": "alice"},
        {"username": 5, "password": PASSWORD},
        ["alice", PASSWORD],
    ]
    with httpx.Client(base_url=gateway.url) as client:
        for body in attempts:
            response = client.post("/api/user/login", json=body)
            refused(response, 200)
            assert "session" not in response.cookies, body
        refused(client.post("/api/user/login", content=b'{"username": "alice",'), 200, "JSON")
        wrong = refused(client.post("/api/user/login", json={"username": "alice", "password": "wrong-password"}))
        unknown = refused(client.post("/api/user/login", json={"username": "nobody", "password": "x" * 9}))
        assert wrong == unknown  # the answer does not tell which usernames exist
        refused(client.get("/api/user/self"), 401)


def test_login_by_email(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """The username field also accepts the account's email, as in One API."""
    alice_id, _ = alice
    data(gateway.admin.put("/api/user/", json={"id": alice_id, "email": "alice@example.com"}))
    client, response = login(gateway, "alice@example.com", PASSWORD)
    with closing(client):
        assert data(response)["id"] == alice_id
        assert data(client.get("/api/user/self"))["email"] == "alice@example.com"


def test_disabled_user_cannot_login_and_loses_session(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """A disabled user is refused at login, and a session opened before is refused at once."""
    alice_id, session = alice
    data(gateway.admin.post("/api/user/manage", json={"username": "alice", "action": "disable"}))
    refused(session.get("/api/user/self"), 401)
    client, response = login(gateway, "alice", PASSWORD)
    with closing(client):
        refused(response, 200, "disabled")
        assert "session" not in response.cookies
    data(gateway.admin.post("/api/user/manage", json={"username": "alice", "action": "enable"}))
    client, response = login(gateway, "alice", PASSWORD)
    with closing(client):
        assert data(response)["id"] == alice_id


def test_password_login_can_be_switched_off(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """With PasswordLoginEnabled false nobody signs in by password; access tokens keep working."""
    data(gateway.admin.put("/api/option/", json={"key": "PasswordLoginEnabled", "value": "false"}))
    client, response = login(gateway, "alice", PASSWORD)
    with closing(client):
        refused(response, 200)
    assert data(gateway.admin.get("/api/user/self"))["id"] == ROOT_ID


def test_get_self_never_shows_secrets(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """/api/user/self answers One API's user fields without password or access token."""
    alice_id, client = alice
    me = data(client.get("/api/user/self"))
    assert me["id"] == alice_id and me["username"] == "alice" and me["role"] == 1 and me["status"] == 1
    assert me["quota"] == 1_000_000 and me["group"] == "default"
    assert "password" not in me and "access_token" not in me
    assert {"display_name", "email", "used_quota", "request_count", "aff_code", "inviter_id"} <= set(me)


def test_update_self_profile_and_password(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """A user changes their display name, username and password; the new password signs in, the old does not."""
    alice_id, client = alice
    me = data(client.put("/api/user/self", json={"display_name": "Alice A.", "username": "alice2",
                                                  "password": "new-password-2"}))
    assert me["display_name"] == "Alice A." and me["username"] == "alice2"
    assert data(client.get("/api/user/self"))["username"] == "alice2"  # the session follows the rename
    other, response = login(gateway, "alice2", PASSWORD)
    with closing(other):
        refused(response)
    other, response = login(gateway, "alice2", "new-password-2")
    with closing(other):
        assert data(response)["id"] == alice_id
    # One API's form sends "$I_LOVE_U" (or nothing) when the password field was left alone.
    data(client.put("/api/user/self", json={"display_name": "A", "password": "$I_LOVE_U"}))
    data(client.put("/api/user/self", json={"display_name": "A", "password": ""}))
    other, response = login(gateway, "alice2", "new-password-2")
    with closing(other):
        data(response)


def test_update_self_rules(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """Short passwords, taken or malformed usernames are refused and change nothing."""
    alice_id, client = alice
    before = row(gateway, "users", alice_id)
    refused(client.put("/api/user/self", json={"password": "short"}), 200, "password")
    refused(client.put("/api/user/self", json={"password": "x" * 129}), 200, "password")
    refused(client.put("/api/user/self", json={"username": "root", "display_name": "changed"}), 200, "taken")
    refused(client.put("/api/user/self", json={"username": "has space"}), 200, "username")
    refused(client.put("/api/user/self", json={"username": "nul\u0000byte"}), 200, "username")
    refused(client.put("/api/user/self", json={"username": "deleted_x"}), 200, "deleted_")
    refused(client.put("/api/user/self", json={"username": "u" * 33}), 200, "username")
    refused(client.put("/api/user/self", json={"display_name": "d" * 33}), 200, "display name")
    refused(client.put("/api/user/self", json={"display_name": 12}), 200, "display name")
    refused(client.put("/api/user/self", content=b"{not json"), 200, "JSON")
    assert row(gateway, "users", alice_id) == before


def test_update_self_cannot_raise_own_role_quota_or_group(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """Fields only an admin may set (role, quota, group, status, id) are ignored in PUT /api/user/self."""
    alice_id, client = alice
    data(client.put("/api/user/self", json={"id": ROOT_ID, "role": 100, "quota": 10**12, "group": "vip",
                                            "status": 1, "display_name": "sneaky"}))
    stored = row(gateway, "users", alice_id)
    assert (stored["role"], stored["quota"], stored["group"]) == (1, 1_000_000, "default")
    assert row(gateway, "users", ROOT_ID)["display_name"] == "Root User"
    refused(client.get("/api/group/"), 200)


def test_delete_self(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """A user deletes themselves (soft delete, name freed); root cannot delete itself."""
    alice_id, client = alice
    refused(gateway.admin.delete("/api/user/self"), 200, "root")
    assert row(gateway, "users", ROOT_ID)["status"] == 1
    data(client.delete("/api/user/self"))
    refused(client.get("/api/user/self"), 401)
    stored = row(gateway, "users", alice_id)
    assert stored["status"] == 3 and stored["username"].startswith("deleted_")
    other, response = login(gateway, "alice", PASSWORD)
    with closing(other):
        refused(response)
    # The name is free again.
    data(gateway.admin.post("/api/user/", json={"username": "alice", "password": PASSWORD}))


def test_access_token_regeneration(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """GET /api/user/token makes a 32-hex token usable bare or with `Bearer `; the previous one stops working."""
    alice_id, session = alice
    first = data(session.get("/api/user/token"))
    assert isinstance(first, str) and len(first) == 32 and int(first, 16) >= 0
    for bearer in (False, True):
        with token_client(gateway, first, bearer=bearer) as client:
            assert data(client.get("/api/user/self"))["id"] == alice_id
    with token_client(gateway, first) as client:
        second = data(client.get("/api/user/token"))
        assert second != first
        refused(client.get("/api/user/self"), 200, "access token")
    with token_client(gateway, second, bearer=True) as client:
        assert data(client.get("/api/user/self"))["id"] == alice_id
    for bad in ("", "Bearer", "Bearer  x", "0" * 32, ROOT_ACCESS_TOKEN + "x", "sk-" + "R" * 48):
        with httpx.Client(base_url=gateway.url, headers={"Authorization": bad} if bad else {}) as client:
            # No header at all is One API's 401; a header with a bad token is its 200 refusal.
            refused(client.get("/api/user/self"), 200 if bad else 401)


def test_one_api_default_root_password_works_with_a_notice_until_changed(gateway: Gateway) -> None:
    """After a takeover root still signs in with One API's 123456 (bcrypt), but every sign-in says the password is
    weak until it is changed; a strong password signs in with One API's plain answer."""
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn, conn:
        conn.execute("UPDATE users SET password = ? WHERE id = ?",
                     (bcrypt.hashpw(b"123456", bcrypt.gensalt(rounds=4)).decode(), ROOT_ID))
    for _ in range(2):  # the hash is upgraded to Argon2id at the first sign-in; the notice stays
        client, response = login(gateway, "root", "123456")
        with closing(client):
            answer = response.json()
            assert answer["success"] and answer["data"]["weak_password"] is True and "weak" in answer["message"]
    assert row(gateway, "users", ROOT_ID)["password"].startswith("$argon2id$")
    client, response = login(gateway, "root", "123456")
    with closing(client):
        data(client.put("/api/user/self", json={"password": "12345678"}))  # long enough, but common: still weak
    client, response = login(gateway, "root", "12345678")
    with closing(client):
        assert response.json()["data"]["weak_password"] is True
        data(client.put("/api/user/self", json={"password": "a much better passphrase"}))
    client, response = login(gateway, "root", "a much better passphrase")
    with closing(client):
        assert response.json() == {"success": True, "message": "", "data": data(response)}
        assert "weak_password" not in data(response)


def test_aff_code_is_made_once(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """GET /api/user/aff makes a 4-character invitation code on first call and keeps answering it."""
    alice_id, client = alice
    code = data(client.get("/api/user/aff"))
    assert isinstance(code, str) and len(code) == 4 and code.isalnum()
    assert data(client.get("/api/user/aff")) == code
    assert row(gateway, "users", alice_id)["aff_code"] == code
    assert data(gateway.admin.get("/api/user/aff")) != code


def test_available_models_follow_the_users_group(gateway: Gateway, alice: tuple[int, httpx.Client],
                                                 mock_url: str) -> None:
    """/api/user/available_models lists the enabled models of one's own group only."""
    alice_id, client = alice
    assert data(client.get("/api/user/available_models")) == []
    gateway.add_channel(mock_url, models="gpt-4o-mini,shared-model")
    gateway.add_channel(mock_url, models="vip-model,shared-model", group="vip")
    assert sorted(data(client.get("/api/user/available_models"))) == ["gpt-4o-mini", "shared-model"]
    data(gateway.admin.put("/api/user/", json={"id": alice_id, "group": "vip"}))
    assert sorted(data(client.get("/api/user/available_models"))) == ["shared-model", "vip-model"]
