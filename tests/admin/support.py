"""Helpers for management API tests: a cast of signed-in users, envelope checks, and database snapshots."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.harness import ROOT_PASSWORD, Gateway

PASSWORD = "user-password-1"
ROOT_ID = 1
TABLES = ("users", "tokens", "channels", "abilities", "options", "logs")


@dataclass
class Actor:
    """One caller of the management API and how it signs its requests."""

    name: str
    role: int  # 0 anonymous, 1 common, 10 admin, 100 root
    client: httpx.Client
    user_id: int = 0
    by_token: bool = False  # access token in Authorization rather than a session cookie


@dataclass
class Cast:
    """Anonymous, two common users, an admin and root, each with a client, on one gateway."""

    gateway: Gateway
    anonymous: Actor
    alice: Actor
    bob: Actor
    admin: Actor
    root: Actor
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def everyone(self) -> list[Actor]:
        return [self.anonymous, self.alice, self.bob, self.admin, self.root]

    def close(self) -> None:
        for client in self.clients:
            client.close()


def token_client(gateway: Gateway, access_token: str, *, bearer: bool = False) -> httpx.Client:
    """A client that signs every request with a management access token."""
    value = f"Bearer {access_token}" if bearer else access_token
    return httpx.Client(base_url=gateway.url, headers={"Authorization": value}, timeout=30)


def make_cast(gateway: Gateway) -> Cast:
    """Sign in alice (cookie), bob (access token with Bearer), an admin (cookie) and root (cookie)."""
    alice_id, alice = gateway.create_user("alice", quota=1_000_000)
    bob_id, bob_session = gateway.create_user("bob", quota=1_000_000)
    bob_token = gateway.api("GET", "/api/user/token", bob_session)
    bob_session.close()
    bob = token_client(gateway, bob_token, bearer=True)
    admin_id = int(gateway.api("POST", "/api/user/", json={"username": "admin", "password": PASSWORD})["id"])
    gateway.api("POST", "/api/user/manage", json={"username": "admin", "action": "promote"})
    admin = gateway.sign_in("admin", PASSWORD)
    root = gateway.sign_in("root", ROOT_PASSWORD)
    anonymous = httpx.Client(base_url=gateway.url, timeout=30)
    return Cast(
        gateway=gateway,
        anonymous=Actor("anonymous", 0, anonymous),
        alice=Actor("alice", 1, alice, alice_id),
        bob=Actor("bob", 1, bob, bob_id, by_token=True),
        admin=Actor("admin", 10, admin, admin_id),
        root=Actor("root", 100, root, ROOT_ID),
        clients=[anonymous, alice, bob, admin, root],
    )


def data(response: httpx.Response) -> Any:
    """The `data` of a successful envelope (HTTP 200, success true)."""
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert body["success"] is True, body
    assert body["message"] == "", body
    return body.get("data")


def refused(response: httpx.Response, status: int = 200, *fragments: str) -> str:
    """Assert a refusal in the envelope with this HTTP status; returns the message (which names each fragment)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["success"] is False, body
    message = str(body["message"])
    assert message, body
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    return message


def rows(gateway: Gateway, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows straight from the gateway's SQLite file (what is really stored, bypassing the API)."""
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def dicts(gateway: Gateway, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Like `rows`, each row as a dict keyed by column name."""
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn:
        cursor = conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def row(gateway: Gateway, table: str, row_id: int) -> dict[str, Any]:
    """One stored row by id, as a dict."""
    found = dicts(gateway, f"SELECT * FROM {table} WHERE id = ?", row_id)
    assert found, f"{table} {row_id} is not stored"
    return found[0]


def snapshot(gateway: Gateway) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the management API can change, to prove a refused call changed nothing."""
    gateway.flush()
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn:
        # Sorted by repr so that rows with NULLs compare, whatever the table's key.
        return {table: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {table}")), key=repr)
                for table in TABLES}


def logs_of(gateway: Gateway, kind: int) -> list[dict[str, Any]]:
    """Stored logs of one type, oldest first."""
    gateway.flush()
    return dicts(gateway, "SELECT * FROM logs WHERE type = ? ORDER BY id", kind)
