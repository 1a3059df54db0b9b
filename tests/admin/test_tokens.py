"""A user's own relay tokens: create, read, list, search, update (fully or status only) and delete."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.admin.support import data, refused, row, snapshot
from tests.harness import Gateway

Alice = tuple[int, httpx.Client]


def relay_status(gateway: Gateway, key: str) -> int:
    """The HTTP status of GET /v1/models with this relay key (200 when the token is usable)."""
    return httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer sk-{key}"}).status_code


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Create a token (unlimited, never expiring unless told otherwise) and return it."""
    body = {"name": "t", "remain_quota": 0, "unlimited_quota": True, "expired_time": -1, **fields}
    token: dict[str, Any] = data(client.post("/api/token/", json=body))
    return token


def test_create_answers_the_full_key_to_its_owner(gateway: Gateway, alice: Alice) -> None:
    """A new token has a 48-character key that the owner reads in full and that works on the relay."""
    alice_id, client = alice
    before = int(time.time())
    token = create(client, name="laptop", remain_quota=5000, unlimited_quota=False,
                   models="gpt-4o-mini, gpt-3.5-turbo,gpt-4o-mini", subnet="127.0.0.1/32")
    assert len(token["key"]) == 48 and token["key"].isalnum() and not token["key"].startswith("sk-")
    assert (token["user_id"], token["name"], token["status"], token["remain_quota"], token["unlimited_quota"]) == (
        alice_id, "laptop", 1, 5000, False)
    assert token["models"] == "gpt-4o-mini,gpt-3.5-turbo" and token["subnet"] == "127.0.0.1/32"
    assert token["expired_time"] == -1 and token["used_quota"] == 0 and token["created_time"] >= before
    assert data(client.get(f"/api/token/{token['id']}")) == token
    assert row(gateway, "tokens", token["id"])["key"] == token["key"]
    assert relay_status(gateway, token["key"]) == 200
    # The token's allow-list is what /v1/models shows.
    listed = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer sk-{token['key']}"}).json()
    assert sorted(m["id"] for m in listed["data"]) == ["gpt-3.5-turbo", "gpt-4o-mini"]
    # Defaults like One API's: a body with only a name makes a limited token with no quota, never expiring.
    bare = data(client.post("/api/token/", json={"name": "bare"}))
    assert (bare["remain_quota"], bare["unlimited_quota"], bare["expired_time"]) == (0, False, -1)


def test_list_pages_and_orders(alice: Alice) -> None:
    """GET /api/token/ pages by 10 (0-based p), newest first, or by remain_quota (unlimited first) or used_quota."""
    _, client = alice
    made = [create(client, name=f"t{n}", unlimited_quota=n == 3, remain_quota=n * 10)["id"] for n in range(12)]
    first, second = data(client.get("/api/token/")), data(client.get("/api/token/?p=1"))
    assert [t["id"] for t in first + second] == made[::-1]
    assert all(len(t["key"]) == 48 for t in first)
    by_remain = [t["name"] for t in data(client.get("/api/token/?order=remain_quota"))]
    assert by_remain[:3] == ["t3", "t11", "t10"]
    assert data(client.get("/api/token/?p=2")) == []


def test_search_by_name_prefix(alice: Alice) -> None:
    """Search matches a prefix of one's own token names; wildcards are literal."""
    _, client = alice
    for name in ("prod-api", "prod-batch", "dev", "100%_ok"):
        create(client, name=name)

    def found(keyword: str) -> list[str]:
        return sorted(t["name"] for t in data(client.get("/api/token/search", params={"keyword": keyword})))

    assert found("prod") == ["prod-api", "prod-batch"]
    assert found("100%") == ["100%_ok"]
    assert found("%") == [] and found("_") == []
    assert len(found("")) == 4


def test_full_update_changes_only_given_fields(gateway: Gateway, alice: Alice) -> None:
    """PUT /api/token/ sets the fields sent and keeps the others; a body with only the id changes nothing."""
    _, client = alice
    token = create(client, name="before", models="gpt-4o-mini")
    later = int(time.time()) + 3600
    updated = data(client.put("/api/token/", json={"id": token["id"], "name": "after", "expired_time": later,
                                                   "remain_quota": 70, "unlimited_quota": False,
                                                   "subnet": "127.0.0.0/8, ::1/128"}))
    assert (updated["name"], updated["expired_time"], updated["remain_quota"], updated["unlimited_quota"]) == (
        "after", later, 70, False)
    assert updated["models"] == "gpt-4o-mini" and updated["subnet"] == "127.0.0.0/8,::1/128"
    assert updated["key"] == token["key"]
    stored = row(gateway, "tokens", token["id"])
    assert (stored["name"], stored["remain_quota"], stored["subnet"]) == ("after", 70, "127.0.0.0/8,::1/128")
    assert data(client.put("/api/token/", json={"id": token["id"]})) == updated
    assert data(client.put("/api/token/", json={"id": token["id"], "models": ""}))["models"] == ""


def test_status_only_update(gateway: Gateway, alice: Alice) -> None:
    """With ?status_only=1 only the status changes; a disabled token is refused by the relay until re-enabled."""
    _, client = alice
    token = create(client, name="keep")
    disabled = data(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 2, "name": "x",
                                                                  "remain_quota": 9}))
    assert (disabled["status"], disabled["name"], disabled["remain_quota"]) == (2, "keep", 0)
    assert relay_status(gateway, token["key"]) == 401
    assert data(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 1}))["status"] == 1
    assert relay_status(gateway, token["key"]) == 200
    refused(client.put("/api/token/?status_only=1", json={"id": token["id"]}), 200, "status")
    refused(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 7}), 200, "status")
    refused(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": "1"}), 200, "status")


def test_expired_token_cannot_be_re_enabled(gateway: Gateway, alice: Alice) -> None:
    """Enabling a token whose expiry has passed is refused until the expiry is moved or removed."""
    _, client = alice
    token = create(client, expired_time=int(time.time()) - 60)
    assert relay_status(gateway, token["key"]) == 401
    data(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 2}))
    refused(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 1}), 200, "expired")
    refused(client.put("/api/token/", json={"id": token["id"], "status": 1}), 200, "expired")
    assert row(gateway, "tokens", token["id"])["status"] == 2
    # Editing other fields of a disabled, expired token is fine; so is enabling it with a new expiry.
    data(client.put("/api/token/", json={"id": token["id"], "name": "renamed"}))
    enabled = data(client.put("/api/token/", json={"id": token["id"], "status": 1, "expired_time": -1}))
    assert enabled["status"] == 1
    assert relay_status(gateway, token["key"]) == 200


def test_exhausted_token_cannot_be_re_enabled(gateway: Gateway, alice: Alice) -> None:
    """Enabling a limited token with no quota left is refused until it gets quota or becomes unlimited."""
    _, client = alice
    token = create(client, unlimited_quota=False, remain_quota=0)
    assert relay_status(gateway, token["key"]) == 403
    data(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 2}))
    refused(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 1}), 200, "quota")
    assert row(gateway, "tokens", token["id"])["status"] == 2
    data(client.put("/api/token/", json={"id": token["id"], "remain_quota": 100}))
    assert data(client.put("/api/token/?status_only=1", json={"id": token["id"], "status": 1}))["status"] == 1
    assert relay_status(gateway, token["key"]) == 200
    # An unlimited token is never "used up".
    other = create(client, unlimited_quota=True, remain_quota=0)
    data(client.put("/api/token/?status_only=1", json={"id": other["id"], "status": 2}))
    data(client.put("/api/token/?status_only=1", json={"id": other["id"], "status": 1}))


def test_subnet_is_validated_and_enforced(gateway: Gateway, alice: Alice) -> None:
    """Subnets must be comma-separated CIDRs or addresses; a token is refused from outside them."""
    _, client = alice
    for subnet in ("not-a-cidr", "10.0.0.0/33", "10.0.0.0/8,bogus", "300.1.1.1"):
        refused(client.post("/api/token/", json={"name": "s", "subnet": subnet}), 200, "subnet")
    refused(client.post("/api/token/", json={"name": "s", "subnet": ["10.0.0.0/8"]}), 200, "subnet")
    outside = create(client, subnet="10.0.0.0/8, 192.168.1.7")
    assert outside["subnet"] == "10.0.0.0/8,192.168.1.7"
    assert relay_status(gateway, outside["key"]) == 403
    data(client.put("/api/token/", json={"id": outside["id"], "subnet": "127.0.0.0/8"}))
    assert relay_status(gateway, outside["key"]) == 200
    refused(client.put("/api/token/", json={"id": outside["id"], "subnet": "nope"}), 200, "subnet")
    assert row(gateway, "tokens", outside["id"])["subnet"] == "127.0.0.0/8"


def test_name_is_at_most_30_characters(alice: Alice) -> None:
    """Token names up to 30 characters (any script) are accepted; longer ones are refused on create and update."""
    _, client = alice
    assert create(client, name="n" * 30)["name"] == "n" * 30
    token = create(client, name="令牌" * 15)
    refused(client.post("/api/token/", json={"name": "n" * 31}), 200, "30")
    refused(client.put("/api/token/", json={"id": token["id"], "name": "n" * 31}), 200, "30")
    assert data(client.get(f"/api/token/{token['id']}"))["name"] == "令牌" * 15


def test_bad_input_stores_nothing(gateway: Gateway, alice: Alice) -> None:
    """Mistyped or impossible fields and malformed bodies are refused; no token is created or changed."""
    _, client = alice
    token = create(client, name="stable")
    before = snapshot(gateway)
    for body in ({"name": 5}, {"name": "x", "remain_quota": "5"}, {"name": "x", "remain_quota": -1},
                 {"name": "x", "remain_quota": 1.5}, {"name": "x", "unlimited_quota": "true"},
                 {"name": "x", "unlimited_quota": 1}, {"name": "x", "expired_time": 0},
                 {"name": "x", "expired_time": -5}, {"name": "x", "expired_time": "never"},
                 {"name": "x", "models": 5}, {"name": "x", "remain_quota": 2**63}):
        refused(client.post("/api/token/", json=body), 200)
        refused(client.put("/api/token/", json={"id": token["id"], **body}), 200)
    for bad in (b"", b"null", b"[]", b'{"name": "x"', b'"name"'):
        refused(client.post("/api/token/", content=bad), 200)
    for body in ({"name": "x"}, {"id": "1", "name": "x"}, {"id": 0}, {"id": 99999, "name": "x"}):
        refused(client.put("/api/token/", json=body), 200)
    assert snapshot(gateway) == before


def test_delete_token(gateway: Gateway, alice: Alice) -> None:
    """Deleting a token removes it: the relay refuses its key and the id is no longer found."""
    _, client = alice
    token = create(client)
    data(client.delete(f"/api/token/{token['id']}"))
    assert relay_status(gateway, token["key"]) == 401
    refused(client.get(f"/api/token/{token['id']}"), 200, "not found")
    refused(client.delete(f"/api/token/{token['id']}"), 200, "not found")
    assert data(client.get("/api/token/")) == []


def test_rate_limits_are_set_on_the_token(gateway: Gateway, alice: Alice) -> None:
    """rpm_limit and tpm_limit are Tollway's fields: 0 (or absent, as One API's forms send) is the group's default."""
    _, client = alice
    token = create(client, rpm_limit=60, tpm_limit=100_000)
    assert (token["rpm_limit"], token["tpm_limit"]) == (60, 100_000)
    entry = gateway.services.cache.tokens_by_id[token["id"]]
    assert (entry.rpm_limit, entry.tpm_limit) == (60, 100_000)
    updated = data(client.put("/api/token/", json={"id": token["id"], "name": "renamed"}))
    assert (updated["rpm_limit"], updated["tpm_limit"]) == (60, 100_000)  # a One API body keeps them
    updated = data(client.put("/api/token/", json={"id": token["id"], "rpm_limit": 0, "tpm_limit": 5}))
    assert (updated["rpm_limit"], updated["tpm_limit"]) == (0, 5) and entry.rpm_limit == 0
    stored = row(gateway, "tokens", token["id"])
    assert (stored["rpm_limit"], stored["tpm_limit"]) == (None, 5)
    before = snapshot(gateway)
    for bad in ({"rpm_limit": -1}, {"rpm_limit": "60"}, {"tpm_limit": True}, {"rpm_limit": 2**40}):
        refused(client.put("/api/token/", json={"id": token["id"], **bad}), 200, next(iter(bad)))
        refused(client.post("/api/token/", json={"name": "x", **bad}), 200, next(iter(bad)))
    assert snapshot(gateway) == before
    assert (create(client)["rpm_limit"], create(client)["tpm_limit"]) == (0, 0)
