"""User administration: list, search, read, create, update, delete, manage and top up (admin and root)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx

from tests.admin.support import PASSWORD, ROOT_ID, Cast, data, logs_of, refused, row, snapshot
from tests.harness import Gateway
from tollway.constants import LogType

INT64_MAX = 2**63 - 1


def new_user(gateway: Gateway, username: str, **fields: object) -> int:
    """Create a user as root (no sign-in) and return its id."""
    created = gateway.api("POST", "/api/user/", json={"username": username, "password": PASSWORD})
    if fields:
        gateway.api("PUT", "/api/user/", json={"id": created["id"], **fields})
    return int(created["id"])


def test_list_pages_and_orders(gateway: Gateway) -> None:
    """GET /api/user/ pages by 10 with a 0-based `p`, newest first, or by quota/used_quota/request_count."""
    ids = [new_user(gateway, f"user{n:02}", quota=(n * 7) % 11) for n in range(11)]
    first = data(gateway.admin.get("/api/user/"))
    second = data(gateway.admin.get("/api/user/?p=1"))
    assert [u["id"] for u in first] == sorted(ids, reverse=True)[:10]
    assert [u["id"] for u in second] == [ids[0], ROOT_ID]
    assert data(gateway.admin.get("/api/user/?p=5")) == []
    assert data(gateway.admin.get("/api/user/?p=-3")) == first  # One API treats a negative page as 0
    by_quota = data(gateway.admin.get("/api/user/?order=quota"))
    quotas = [u["quota"] for u in by_quota]
    assert quotas[0] == 500_000_000_000_000 and quotas[1:] == sorted(quotas[1:], reverse=True)
    assert all("password" not in u and "access_token" not in u for u in first + second)
    refused(gateway.admin.get("/api/user/?p=abc"), 200, "integer")


def test_search_by_id_and_prefixes(gateway: Gateway) -> None:
    """Search matches an id, or a prefix of username, email or display name; deleted users never match."""
    carol = new_user(gateway, "carol", email="carol@corp.example", display_name="Caroline")
    dave = new_user(gateway, "dave", display_name="Dave the 50%")
    gone = new_user(gateway, "carl")
    data(gateway.admin.delete(f"/api/user/{gone}"))

    def found(keyword: str) -> list[int]:
        return sorted(u["id"] for u in data(gateway.admin.get("/api/user/search", params={"keyword": keyword})))

    assert found("car") == [carol]
    assert found(str(dave)) == [dave]
    assert found("carol@corp") == [carol]
    assert found("Carol") == [carol]  # display name prefix
    assert found("Dave the 50%") == [dave]
    assert found("%") == []  # a wildcard in the keyword is a literal character
    assert found("_ave") == []
    assert found("²") == []  # a Unicode digit is not an id
    assert found("99999999999999999999999") == []
    assert ROOT_ID in found("")


def test_get_user_by_id(cast: Cast) -> None:
    """Admins read lower-role users; root reads everyone; unknown or deleted ids are not found."""
    gateway = cast.gateway
    alice = data(cast.admin.client.get(f"/api/user/{cast.alice.user_id}"))
    assert alice["username"] == "alice" and "password" not in alice and "access_token" not in alice
    refused(cast.admin.client.get(f"/api/user/{ROOT_ID}"), 200)
    refused(cast.admin.client.get(f"/api/user/{cast.admin.user_id}"), 200)  # same role, even oneself
    assert data(cast.root.client.get(f"/api/user/{cast.admin.user_id}"))["role"] == 10
    assert data(cast.root.client.get(f"/api/user/{ROOT_ID}"))["role"] == 100
    refused(gateway.admin.get("/api/user/9999"), 200, "not found")
    refused(gateway.admin.get("/api/user/99999999999999999999"), 200)
    data(gateway.admin.delete(f"/api/user/{cast.bob.user_id}"))
    refused(gateway.admin.get(f"/api/user/{cast.bob.user_id}"), 200, "not found")


def test_create_user(gateway: Gateway) -> None:
    """A created user is common, gets QuotaForNewUser, has display name = username, and can sign in."""
    data(gateway.admin.put("/api/option/", json={"key": "QuotaForNewUser", "value": "777"}))
    user = data(gateway.admin.post("/api/user/", json={"username": "erin", "password": PASSWORD, "role": 10}))
    assert (user["username"], user["display_name"], user["role"], user["status"], user["quota"], user["group"]) == (
        "erin", "erin", 1, 1, 777, "default")
    assert "password" not in user
    named = data(gateway.admin.post("/api/user/", json={"username": "fay", "password": PASSWORD,
                                                        "display_name": "Fay F."}))
    assert named["display_name"] == "Fay F."
    with closing(gateway.sign_in("erin", PASSWORD)) as client:
        assert data(client.get("/api/user/self"))["id"] == user["id"]


def test_create_user_refusals(cast: Cast) -> None:
    """Bad or taken names, bad passwords and roles at or above the caller's are refused; nothing is stored."""
    before = snapshot(cast.gateway)
    for body in ({"username": "alice", "password": PASSWORD}, {"username": "new"}, {"password": PASSWORD},
                 {"username": "new", "password": "short"}, {"username": "new", "password": 12345678},
                 {"username": "with space", "password": PASSWORD}, {"username": "u" * 33, "password": PASSWORD},
                 {"username": "new", "password": PASSWORD, "display_name": "d" * 33},
                 {"username": "new", "password": PASSWORD, "role": "1"}):
        refused(cast.root.client.post("/api/user/", json=body), 200)
    refused(cast.admin.client.post("/api/user/", json={"username": "new", "password": PASSWORD, "role": 10}), 200)
    refused(cast.root.client.post("/api/user/", json={"username": "new", "password": PASSWORD, "role": 100}), 200)
    assert snapshot(cast.gateway) == before


def test_quota_change_writes_a_manage_log(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """Changing a user's quota stores it and writes a type-3 log naming old and new values; same quota, no log."""
    alice_id, client = alice
    updated = data(gateway.admin.put("/api/user/", json={"id": alice_id, "quota": 2_500_000}))
    assert updated["quota"] == 2_500_000
    assert data(client.get("/api/user/self"))["quota"] == 2_500_000
    assert row(gateway, "users", alice_id)["quota"] == 2_500_000
    manage = logs_of(gateway, LogType.MANAGE)
    # create_user already set the quota once (0 -> 1,000,000); this is the second change.
    assert [(log["user_id"], log["username"]) for log in manage] == [(alice_id, "alice")] * 2
    assert "1000000" in manage[-1]["content"] and "2500000" in manage[-1]["content"]
    data(gateway.admin.put("/api/user/", json={"id": alice_id, "quota": 2_500_000, "display_name": "A"}))
    assert len(logs_of(gateway, LogType.MANAGE)) == 2
    logged = data(gateway.admin.get("/api/log/", params={"type": LogType.MANAGE, "username": "alice"}))
    assert len(logged) == 2 and all(log["type"] == LogType.MANAGE for log in logged)


def test_update_user_fields(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """An admin sets a lower user's names, email, group and password; the new password signs in."""
    alice_id, _ = alice
    updated = data(gateway.admin.put("/api/user/", json={
        "id": alice_id, "username": "alicia", "display_name": "Alicia", "email": "a@example.com",
        "group": "vip", "password": "changed-password"}))
    assert (updated["username"], updated["display_name"], updated["email"], updated["group"]) == (
        "alicia", "Alicia", "a@example.com", "vip")
    with closing(gateway.sign_in("alicia", "changed-password")) as client:
        assert data(client.get("/api/user/self"))["group"] == "vip"


def test_update_user_refusals_change_nothing(cast: Cast) -> None:
    """Bad ids, types, values and role rules are refused (all with One API's 200); nothing changes."""
    alice = cast.alice.user_id
    before = snapshot(cast.gateway)
    for body in ({"quota": 5}, {"id": "2", "quota": 5}, {"id": 0}, {"id": 9999, "quota": 5},
                 {"id": alice, "quota": "5"}, {"id": alice, "quota": 1.5}, {"id": alice, "quota": -1},
                 {"id": alice, "quota": True}, {"id": alice, "quota": INT64_MAX + 1},
                 {"id": alice, "username": "bob"}, {"id": alice, "username": "a b"},
                 {"id": alice, "group": ""}, {"id": alice, "group": "g" * 33}, {"id": alice, "group": 1},
                 {"id": alice, "password": "short"}, {"id": alice, "role": 5}, {"id": alice, "email": 5},
                 {"id": alice, "display_name": "x" * 40, "quota": 5}):
        refused(cast.root.client.put("/api/user/", json=body), 200)
    refused(cast.root.client.put("/api/user/", content=b'{"id": 2, "quota": 5'), 200, "JSON")
    refused(cast.root.client.put("/api/user/", json=[{"id": alice}]), 200, "object")
    # Rank rules: an admin changes only lower users and never makes anyone admin or root.
    refused(cast.admin.client.put("/api/user/", json={"id": ROOT_ID, "display_name": "x"}), 200)
    refused(cast.admin.client.put("/api/user/", json={"id": cast.admin.user_id, "quota": 5}), 200)
    refused(cast.admin.client.put("/api/user/", json={"id": alice, "role": 10}), 200)
    refused(cast.admin.client.put("/api/user/", json={"id": alice, "role": 100}), 200)
    assert snapshot(cast.gateway) == before
    # Root may change roles directly.
    assert data(cast.root.client.put("/api/user/", json={"id": alice, "role": 10}))["role"] == 10
    data(cast.alice.client.get("/api/group/"))  # the new role applies to her open session at once


def test_delete_user_is_soft(cast: Cast) -> None:
    """DELETE /api/user/:id sets status 3 and frees the username; the user's session and token stop working."""
    gateway, bob = cast.gateway, cast.bob
    data(cast.admin.client.delete(f"/api/user/{bob.user_id}"))
    stored = row(gateway, "users", bob.user_id)
    assert stored["status"] == 3 and stored["username"].startswith("deleted_")
    refused(bob.client.get("/api/user/self"), 200, "access token")  # bob signs requests with his access token
    assert bob.user_id not in [u["id"] for u in data(gateway.admin.get("/api/user/"))]
    assert data(gateway.admin.get("/api/user/search", params={"keyword": "bob"})) == []
    refused(gateway.admin.delete(f"/api/user/{bob.user_id}"), 200, "not found")
    assert new_user(gateway, "bob") != bob.user_id
    # Rank: nobody deletes a user of their own role or above, root included.
    refused(cast.admin.client.delete(f"/api/user/{ROOT_ID}"), 200)
    refused(cast.admin.client.delete(f"/api/user/{cast.admin.user_id}"), 200)
    refused(cast.root.client.delete(f"/api/user/{ROOT_ID}"), 200)
    refused(cast.alice.client.delete(f"/api/user/{cast.alice.user_id}"), 200)
    assert row(gateway, "users", ROOT_ID)["status"] == 1


def test_manage_disable_enable_delete(cast: Cast) -> None:
    """Disable stops a user's session and relay tokens at once, enable restores them, delete is soft."""
    gateway, alice = cast.gateway, cast.alice
    key = gateway.create_token(alice.client)
    relay = {"Authorization": f"Bearer {key}"}
    assert httpx.get(gateway.url + "/v1/models", headers=relay).status_code == 200
    disabled = data(cast.admin.client.post("/api/user/manage", json={"username": "alice", "action": "disable"}))
    assert disabled == {"role": 1, "status": 2}
    refused(alice.client.get("/api/user/self"), 401)
    assert httpx.get(gateway.url + "/v1/models", headers=relay).status_code == 403
    assert data(cast.admin.client.post("/api/user/manage", json={"username": "alice", "action": "enable"})) == {
        "role": 1, "status": 1}
    assert httpx.get(gateway.url + "/v1/models", headers=relay).status_code == 200
    with closing(gateway.sign_in("alice", PASSWORD)) as client:
        data(client.get("/api/user/self"))
    data(cast.admin.client.post("/api/user/manage", json={"username": "bob", "action": "delete"}))
    assert row(gateway, "users", cast.bob.user_id)["status"] == 3
    refused(cast.bob.client.get("/api/user/self"), 200, "access token")
    refused(cast.admin.client.post("/api/user/manage", json={"username": "bob", "action": "enable"}), 200,
            "not found")


def test_manage_promote_and_demote(cast: Cast) -> None:
    """Only root promotes; demote turns an admin common; the role change applies to open sessions at once."""
    root, admin, alice = cast.root.client, cast.admin.client, cast.alice.client
    refused(admin.post("/api/user/manage", json={"username": "alice", "action": "promote"}), 200)
    assert data(root.post("/api/user/manage", json={"username": "alice", "action": "promote"})) == {
        "role": 10, "status": 1}
    data(alice.get("/api/user/"))
    refused(root.post("/api/user/manage", json={"username": "alice", "action": "promote"}), 200, "already")
    refused(admin.post("/api/user/manage", json={"username": "alice", "action": "demote"}), 200)  # same rank
    assert data(root.post("/api/user/manage", json={"username": "alice", "action": "demote"}))["role"] == 1
    refused(alice.get("/api/user/"), 200)
    refused(root.post("/api/user/manage", json={"username": "alice", "action": "demote"}), 200, "already")


def test_manage_refusals(cast: Cast) -> None:
    """Root can be neither disabled, deleted nor demoted; admins cannot act on their peers; bad input is refused."""
    root, admin = cast.root.client, cast.admin.client
    before = snapshot(cast.gateway)
    for action in ("disable", "delete", "demote"):
        refused(root.post("/api/user/manage", json={"username": "root", "action": action}), 200, "root")
        refused(admin.post("/api/user/manage", json={"username": "root", "action": action}), 200)
        refused(admin.post("/api/user/manage", json={"username": "admin", "action": action}), 200)
    refused(root.post("/api/user/manage", json={"username": "alice", "action": "explode"}), 200, "action")
    refused(root.post("/api/user/manage", json={"username": "alice"}), 200, "action")
    refused(root.post("/api/user/manage", json={"username": "nobody", "action": "disable"}), 200, "not found")
    refused(root.post("/api/user/manage", json={"username": ["alice"], "action": "disable"}), 200, "username")
    refused(root.post("/api/user/manage", content=b"username=alice&action=disable"), 200, "JSON")
    refused(cast.alice.client.post("/api/user/manage", json={"username": "bob", "action": "disable"}), 200)
    assert snapshot(cast.gateway) == before


def test_admin_top_up(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """POST /api/topup raises the user's quota and writes a type-1 log with the amount and the remark."""
    alice_id, client = alice
    assert data(gateway.admin.post("/api/topup", json={"user_id": alice_id, "quota": 250_000,
                                                        "remark": "invoice 42"})) is None
    assert data(client.get("/api/user/self"))["quota"] == 1_250_000
    assert row(gateway, "users", alice_id)["quota"] == 1_250_000
    [log] = logs_of(gateway, LogType.TOPUP)
    assert (log["user_id"], log["username"], log["quota"]) == (alice_id, "alice", 250_000)
    assert "invoice 42" in log["content"]
    # A negative top-up takes quota back, but never below zero.
    data(gateway.admin.post("/api/topup", json={"user_id": alice_id, "quota": -250_000}))
    assert data(client.get("/api/user/self"))["quota"] == 1_000_000
    assert [entry["type"] for entry in data(client.get("/api/log/self", params={"type": LogType.TOPUP}))] == [1, 1]


def test_admin_top_up_refusals(cast: Cast) -> None:
    """Top-ups with missing, mistyped or impossible values are refused and write neither quota nor log."""
    root, alice = cast.root.client, cast.alice.user_id
    data(root.delete(f"/api/user/{cast.bob.user_id}"))
    before = snapshot(cast.gateway)
    for body in ({"quota": 5}, {"user_id": alice}, {"user_id": alice, "quota": 0}, {"user_id": str(alice), "quota": 5},
                 {"user_id": alice, "quota": "5"}, {"user_id": alice, "quota": 2.5}, {"user_id": 9999, "quota": 5},
                 {"user_id": cast.bob.user_id, "quota": 5}, {"user_id": alice, "quota": -2_000_000},
                 {"user_id": alice, "quota": INT64_MAX}, {"user_id": alice, "quota": INT64_MAX + 1}):
        refused(root.post("/api/topup", json=body), 200)
    refused(cast.alice.client.post("/api/topup", json={"user_id": alice, "quota": 5}), 200)
    assert snapshot(cast.gateway) == before


def test_concurrent_creates_of_one_name(gateway: Gateway) -> None:
    """Racing creates of one username make exactly one user; the others get a clear 'taken', never a 500."""

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=gateway.url, headers=dict(gateway.admin.headers), timeout=30) as client:
            return client.post("/api/user/", json={"username": "twin", "password": PASSWORD})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(create, range(6)))
    assert sorted(r.status_code for r in answers) == [200] * 6
    assert sum(r.json()["success"] for r in answers) == 1
    for response in answers:
        if not response.json()["success"]:
            assert "taken" in response.json()["message"]
    assert len(data(gateway.admin.get("/api/user/search", params={"keyword": "twin"}))) == 1


def test_groups_come_from_group_ratio(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """A user's group must be one of GroupRatio's keys (those /api/group lists); a new key becomes usable."""
    alice_id, _ = alice
    refused(gateway.admin.put("/api/user/", json={"id": alice_id, "group": "gold"}), 200, "GroupRatio")
    assert row(gateway, "users", alice_id)["group"] == "default"
    data(gateway.admin.put("/api/option/", json={"key": "GroupRatio", "value": '{"default": 1, "gold": 2}'}))
    assert sorted(data(gateway.admin.get("/api/group/"))) == ["default", "gold"]
    assert data(gateway.admin.put("/api/user/", json={"id": alice_id, "group": "gold"}))["group"] == "gold"


def test_a_user_made_by_an_admin_gets_the_default_token(gateway: Gateway) -> None:
    """One API's User.Insert serves sign-up and the admin route alike: an unlimited token named "default"."""
    gateway.api("POST", "/api/user/", json={"username": "dora", "password": "user-password-1"})
    client = gateway.sign_in("dora", "user-password-1")
    tokens = gateway.api("GET", "/api/token/", client)
    assert [(t["name"], t["unlimited_quota"], t["expired_time"]) for t in tokens] == [("default", True, -1)]
