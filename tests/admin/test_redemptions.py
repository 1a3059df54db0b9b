"""Redemption codes: made in batches by admins, redeemed exactly once by users, every top-up logged."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.admin.support import PASSWORD, Cast, data, dicts, make_cast, refused, row, rows
from tests.harness import ROOT_TOKEN, Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock
from tollway.constants import LogType

# Many calls of a module share one gateway from 127.0.0.1: the per-IP limits would refuse them (tests/accounts
# covers the limits).
NO_LIMITS = {"GLOBAL_API_RATE_LIMIT": 0, "CRITICAL_RATE_LIMIT": 0}



@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cast]:
    """One gateway and cast for the module (making users is slow: passwords are hashed); codes never collide."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("redemptions"), **NO_LIMITS))
    people = make_cast(gateway)
    yield people
    people.close()
    gateway.close()


def make_codes(gateway: Gateway, name: str = "promo", quota: int = 5000, count: int = 1,
               client: httpx.Client | None = None) -> list[str]:
    keys: list[str] = data((client or gateway.admin).post("/api/redemption/",
                                                          json={"name": name, "quota": quota, "count": count}))
    return keys


def code_row(gateway: Gateway, key: str) -> dict[str, Any]:
    [found] = dicts(gateway, "SELECT * FROM redemptions WHERE key = ?", key)
    return found


def quota_of(gateway: Gateway, user_id: int) -> int:
    value: int = data(gateway.admin.get(f"/api/user/{user_id}"))["quota"]
    return value


def test_create_list_search_get(cast: Cast) -> None:
    """A batch of `count` codes of 32 hex digits, listed newest first, found by name prefix or id."""
    gateway, admin = cast.gateway, cast.admin
    keys = make_codes(gateway, "spring sale", 250_000, 3, client=admin.client)
    assert len(keys) == 3 and len(set(keys)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
    other = make_codes(gateway, "welcome", 100)
    listed = data(gateway.admin.get("/api/redemption/", params={"p": 0}))
    assert [c["key"] for c in listed[:4]] == other + keys[::-1]  # newest first
    first = listed[3]
    assert (first["name"], first["quota"], first["status"], first["user_id"]) == ("spring sale", 250_000, 1,
                                                                                   admin.user_id)
    assert first["created_time"] > 0 and first["redeemed_time"] == 0 and first["used_user_id"] == 0
    assert [c["key"] for c in data(gateway.admin.get("/api/redemption/search", params={"keyword": "spring"}))] == (
        keys[::-1])
    assert [c["key"] for c in data(gateway.admin.get("/api/redemption/search",
                                                     params={"keyword": str(first["id"])}))] == [keys[0]]
    assert data(gateway.admin.get("/api/redemption/search", params={"keyword": "%"})) == []
    assert data(gateway.admin.get(f"/api/redemption/{first['id']}"))["key"] == keys[0]
    refused(gateway.admin.get("/api/redemption/999999"), 200, "not found")
    total = rows(gateway, "SELECT COUNT(*) FROM redemptions")[0][0]
    assert len(data(gateway.admin.get("/api/redemption/", params={"p": total // 10}))) == total % 10


def test_bad_batches_are_refused_and_make_nothing(cast: Cast) -> None:
    """Name 1-20 characters, count 1-100, a positive integer quota, a JSON object body."""
    gateway = cast.gateway
    before = rows(gateway, "SELECT COUNT(*) FROM redemptions")
    bad: list[Any] = [
        {"name": "", "quota": 1, "count": 1}, {"name": "x" * 21, "quota": 1, "count": 1},
        {"name": "ok", "quota": 1, "count": 0}, {"name": "ok", "quota": 1, "count": 101},
        {"name": "ok", "quota": 0, "count": 1}, {"name": "ok", "quota": -5, "count": 1},
        {"name": "ok", "quota": "lots", "count": 1}, {"name": "ok", "quota": 2**63, "count": 1},
        {"name": "ok", "count": 1}, {"name": 5, "quota": 1, "count": 1}, {"name": "ok", "quota": 1, "count": "2"},
    ]
    for body in bad:
        refused(gateway.admin.post("/api/redemption/", json=body), 200)
    refused(gateway.admin.post("/api/redemption/", content=b"[1]"), 200, "object")
    assert rows(gateway, "SELECT COUNT(*) FROM redemptions") == before
    assert len(make_codes(gateway, "x" * 20, count=100)) == 100


def test_redeem_credits_once_and_logs_it(cast: Cast) -> None:
    """POST /api/user/topup answers the quota, credits it, marks the code used by the user, and logs a top-up."""
    gateway, alice, bob = cast.gateway, cast.alice, cast.bob
    [key] = make_codes(gateway, "gift", 7000)
    before = quota_of(gateway, alice.user_id)
    assert data(alice.client.post("/api/user/topup", json={"key": key})) == 7000
    assert quota_of(gateway, alice.user_id) == before + 7000
    assert data(alice.client.get("/api/user/self"))["quota"] == before + 7000
    stored = code_row(gateway, key)
    assert (stored["status"], stored["used_user_id"]) == (3, alice.user_id) and stored["redeemed_time"] > 0
    for client in (alice.client, bob.client):
        refused(client.post("/api/user/topup", json={"key": key}), 200, "already been used")
    assert quota_of(gateway, alice.user_id) == before + 7000
    [log] = [log for log in data(alice.client.get("/api/log/self", params={"type": LogType.TOPUP}))
             if "gift" in log["content"]]
    assert log["quota"] == 7000 and log["username"] == "alice" and "gift" in log["content"]
    assert key not in log["content"]
    refused(alice.client.post("/api/user/topup", json={"key": "0" * 32}), 200, "invalid")
    refused(alice.client.post("/api/user/topup", json={"key": ""}), 200, "required")
    refused(alice.client.post("/api/user/topup", json={}), 200, "required")
    refused(alice.client.post("/api/user/topup", json={"key": 12}), 200, "key")
    refused(alice.client.post("/api/user/topup", json={"key": "k" * 5000}), 200, "invalid")
    refused(cast.anonymous.client.post("/api/user/topup", json={"key": key}), 401)


def test_disable_enable_update_delete(cast: Cast) -> None:
    """A disabled code cannot be redeemed until enabled again; a redeemed code can no longer change."""
    gateway, client = cast.gateway, cast.alice.client
    [key] = make_codes(gateway, "toggle", 300)
    code_id = code_row(gateway, key)["id"]
    assert data(gateway.admin.put("/api/redemption/?status_only=1", json={"id": code_id, "status": 2}))["status"] == 2
    refused(client.post("/api/user/topup", json={"key": key}), 200, "disabled")
    updated = data(gateway.admin.put("/api/redemption/", json={"id": code_id, "name": "renamed", "quota": 400}))
    assert (updated["name"], updated["quota"], updated["status"]) == ("renamed", 400, 2)
    data(gateway.admin.put("/api/redemption/?status_only=1", json={"id": code_id, "status": 1}))
    assert data(client.post("/api/user/topup", json={"key": key})) == 400
    for body, query in (({"id": code_id, "status": 1}, "?status_only=1"),
                        ({"id": code_id, "name": "again", "quota": 1}, "")):
        refused(gateway.admin.put(f"/api/redemption/{query}", json=body), 200, "redeemed")
    assert code_row(gateway, key)["status"] == 3
    [other] = make_codes(gateway, "other")
    other_id = code_row(gateway, other)["id"]
    for body, query in (({"id": other_id, "status": 3}, "?status_only=1"), ({"id": other_id, "status": 0},
                        "?status_only=1"), ({"id": other_id, "name": "", "quota": 5}, ""),
                        ({"name": "x", "quota": 5}, ""), ({"id": 999999, "name": "x", "quota": 5}, "")):
        refused(gateway.admin.put(f"/api/redemption/{query}", json=body), 200)
    assert code_row(gateway, other)["status"] == 1
    data(gateway.admin.delete(f"/api/redemption/{other_id}"))
    assert rows(gateway, "SELECT COUNT(*) FROM redemptions WHERE id = ?", other_id) == [(0,)]
    refused(gateway.admin.delete(f"/api/redemption/{other_id}"), 200, "not found")
    refused(client.post("/api/user/topup", json={"key": other}), 200, "invalid")


def test_only_admins_manage_codes(cast: Cast) -> None:
    """Common users get One API's 200 refusal (anonymous 401) on every code route; their attempts change nothing."""
    gateway = cast.gateway
    [key] = make_codes(gateway)
    code_id = code_row(gateway, key)["id"]
    for actor in (cast.anonymous, cast.alice, cast.bob):
        status = 401 if actor.role == 0 else 200
        client = actor.client
        refused(client.get("/api/redemption/"), status)
        refused(client.get("/api/redemption/search", params={"keyword": "promo"}), status)
        refused(client.get(f"/api/redemption/{code_id}"), status)
        refused(client.post("/api/redemption/", json={"name": "mine", "quota": 10**9, "count": 5}), status)
        refused(client.put("/api/redemption/", json={"id": code_id, "name": "mine", "quota": 10**9}), status)
        refused(client.put("/api/redemption/?status_only=1", json={"id": code_id, "status": 2}), status)
        refused(client.delete(f"/api/redemption/{code_id}"), status)
    assert rows(gateway, "SELECT name, quota, status FROM redemptions WHERE id = ?", code_id) == [("promo", 5000, 1)]
    assert rows(gateway, "SELECT COUNT(*) FROM redemptions WHERE name = 'mine'") == [(0,)]


def test_concurrent_redemptions_credit_exactly_once(cast: Cast) -> None:
    """Twenty simultaneous attempts by two users: one succeeds, one credit, one log; the rest are refused."""
    gateway = cast.gateway
    [key] = make_codes(gateway, "race", 9000)
    people = {cast.alice.user_id: cast.alice, cast.bob.user_id: cast.bob}
    before = {user_id: quota_of(gateway, user_id) for user_id in people}
    start = threading.Barrier(20)
    outcomes: list[tuple[int, bool]] = []

    def attempt(user_id: int) -> None:
        with httpx.Client(base_url=gateway.url, timeout=30, cookies=people[user_id].client.cookies,
                          headers=people[user_id].client.headers) as client:
            start.wait()
            body = client.post("/api/user/topup", json={"key": key}).json()
            outcomes.append((user_id, body["success"]))

    threads = [threading.Thread(target=attempt, args=(list(people)[i % 2],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [user_id for user_id, success in outcomes if success]
    assert len(outcomes) == 20 and len(winners) == 1
    winner = winners[0]
    after = {user_id: quota_of(gateway, user_id) for user_id in people}
    assert after == {user_id: before[user_id] + (9000 if user_id == winner else 0) for user_id in people}
    assert code_row(gateway, key)["used_user_id"] == winner
    gateway.flush()
    assert rows(gateway, "SELECT user_id FROM logs WHERE type = ? AND content LIKE '%\"race\"%'", LogType.TOPUP) == [
        (winner,)]


def test_redeeming_keeps_charges_not_yet_written(relay: Gateway, mock: OpenAIMock) -> None:
    """A redemption adds to the live balance: relay charges settled in memory but not yet flushed are kept."""
    user_id, client = relay.create_user("carol", quota=1_000_000, password=PASSWORD)
    key = relay.create_token(client, name="carol-key")
    relay.openai(key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    charged = 1_000_000 - relay.services.cache.users[user_id].quota.value
    assert charged > 0
    [code] = make_codes(relay, "top", 500)
    assert data(client.post("/api/user/topup", json={"key": code})) == 500
    relay.flush()
    assert row(relay, "users", user_id)["quota"] == 1_000_000 - charged + 500
    assert quota_of(relay, user_id) == 1_000_000 - charged + 500
    assert relay.openai("sk-" + ROOT_TOKEN).models.list().data
    client.close()
