"""Channel administration: add (one per key line), list, search, read, update, delete; keys sealed and masked."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.admin.support import data, refused, rows, snapshot
from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock

KEY = "sk-upstream-secret-0123456789abcdef"


def add(gateway: Gateway, base_url: str, **fields: Any) -> list[dict[str, Any]]:
    """POST /api/channel/ as root and return the created channels."""
    body = {"type": 1, "name": "main", "key": KEY, "base_url": base_url, "models": "gpt-4o-mini",
            "group": "default", **fields}
    created: list[dict[str, Any]] = data(gateway.admin.post("/api/channel/", json=body))
    return created


def assert_masked(channel: dict[str, Any], plain: str) -> None:
    """The channel's key is shown masked: recognisable ends, never the key itself."""
    assert channel["key"] != plain and plain not in channel["key"]
    assert "********" in channel["key"] and channel["key"][:4] == plain[:4]


def upstream_keys(mock: OpenAIMock) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in mock.requests]


def chat(gateway: Gateway, model: str) -> str:
    """One chat call through the relay with root's initial token; answers the model the upstream saw."""
    answer = gateway.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return answer.model


def test_add_one_channel_per_key_line_with_keys_sealed(gateway: Gateway, mock_url: str) -> None:
    """A multi-line key makes one channel per non-empty line; each key is sealed at rest and masked in answers."""
    keys = [KEY, "sk-second-key-abcdefghijklmnop", "sk-third-key-qrstuvwxyz0123456"]
    created = add(gateway, mock_url, key=f"{keys[0]}\n\n  {keys[1]}  \r\n{keys[2]}\n", priority=5,
                  model_mapping={"gpt-4o-mini": "gpt-4o"}, system_prompt="be brief")
    assert len(created) == 3 and len({c["id"] for c in created}) == 3
    for channel, plain in zip(created, keys, strict=True):
        assert_masked(channel, plain)
        assert (channel["name"], channel["type"], channel["status"], channel["priority"]) == ("main", 1, 1, 5)
        assert channel["model_mapping"] == '{"gpt-4o-mini":"gpt-4o"}' and channel["system_prompt"] == "be brief"
    stored = rows(gateway, "SELECT id, key FROM channels ORDER BY id")
    assert len(stored) == 3
    for (_, sealed), plain in zip(stored, keys, strict=True):
        assert sealed.startswith("tw1:") and plain not in sealed and plain[3:] not in sealed
    # Reading back through every route still never shows a key in full.
    listed = data(gateway.admin.get("/api/channel/"))
    searched = data(gateway.admin.get("/api/channel/search", params={"keyword": "main"}))
    single = [data(gateway.admin.get(f"/api/channel/{c['id']}")) for c in created]
    for views in (listed, searched):
        assert sorted(views, key=lambda c: c["id"]) == sorted(created, key=lambda c: c["id"])
    # One channel, as One API's edit form loads it, leaves the key out altogether.
    assert single == [{name: value for name, value in c.items() if name != "key"} for c in created]
    text = gateway.admin.get("/api/channel/").text
    assert not any(plain in text for plain in keys)


def test_list_search_and_get(gateway: Gateway, mock_url: str) -> None:
    """Channels list by priority then newest, 10 per page; search by id or name prefix; unknown ids not found."""
    ids = [add(gateway, mock_url, name=f"ch-{n:02}", priority=1 if n == 0 else 0)[0]["id"] for n in range(12)]
    first, second = data(gateway.admin.get("/api/channel/")), data(gateway.admin.get("/api/channel/?p=1"))
    assert [c["id"] for c in first + second] == [ids[0], *ids[:0:-1]]
    found = data(gateway.admin.get("/api/channel/search", params={"keyword": "ch-1"}))
    assert sorted(c["name"] for c in found) == ["ch-10", "ch-11"]
    assert [c["id"] for c in data(gateway.admin.get("/api/channel/search", params={"keyword": str(ids[3])}))] == [
        ids[3]]
    assert data(gateway.admin.get("/api/channel/search", params={"keyword": "%"})) == []
    assert data(gateway.admin.get(f"/api/channel/{ids[5]}"))["name"] == "ch-05"
    refused(gateway.admin.get("/api/channel/9999"), 200, "not found")


def test_update_keeps_a_masked_or_empty_key_and_replaces_a_new_one(gateway: Gateway, mock: OpenAIMock,
                                                                   mock_url: str) -> None:
    """PUT with the masked key sent back, an empty key or no key keeps the upstream key; a new key replaces it."""
    [channel] = add(gateway, mock_url)
    for body in ({"key": channel["key"]}, {"key": ""}, {"key": "   "}, {}):
        updated = data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "name": "renamed", **body}))
        assert updated["key"] == channel["key"] and updated["name"] == "renamed"
    chat(gateway, "gpt-4o-mini")
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "key": "sk-brand-new-key-987654321"}))
    chat(gateway, "gpt-4o-mini")
    assert upstream_keys(mock) == [KEY, "sk-brand-new-key-987654321"]
    [(sealed,)] = rows(gateway, "SELECT key FROM channels")
    assert sealed.startswith("tw1:") and "brand-new" not in sealed
    assert_masked(data(gateway.admin.get("/api/channel/"))[0], "sk-brand-new-key-987654321")


def test_edit_form_round_trip_keeps_the_key(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """One API's edit form loads GET /api/channel/:id (no key) and PUTs the same object back: the key stays."""
    [channel] = add(gateway, mock_url)
    loaded = data(gateway.admin.get(f"/api/channel/{channel['id']}"))
    assert "key" not in loaded and KEY not in gateway.admin.get(f"/api/channel/{channel['id']}").text
    data(gateway.admin.put("/api/channel/", json={**loaded, "name": "edited in One API's form"}))
    chat(gateway, "gpt-4o-mini")
    assert upstream_keys(mock) == [KEY]


def test_models_and_groups_drive_routing(gateway: Gateway, mock_url: str) -> None:
    """Abilities follow a channel's models, groups and status: a model added becomes routable at once."""
    [channel] = add(gateway, mock_url, models="gpt-4o-mini")
    key = gateway.create_token(gateway.admin)

    def listed() -> list[str]:
        models = gateway.openai(key).models.list()
        return sorted(m.id for m in models.data)

    assert listed() == ["gpt-4o-mini"]
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "models": "gpt-4o-mini,brand-new-model"}))
    assert listed() == ["brand-new-model", "gpt-4o-mini"]
    assert chat(gateway, "brand-new-model") == "brand-new-model"
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "models": ["gpt-4o-mini"]}))
    assert listed() == ["gpt-4o-mini"]
    with pytest.raises(openai.APIStatusError):
        chat(gateway, "brand-new-model")
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "status": 2}))
    assert data(gateway.admin.get("/api/user/available_models")) == []
    assert rows(gateway, "SELECT enabled FROM abilities") == [(0,)]
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "status": 1, "group": "vip"}))
    assert data(gateway.admin.get("/api/user/available_models")) == []  # root is in group default
    data(gateway.admin.put("/api/channel/", json={"id": channel["id"], "group": "vip,default"}))
    assert data(gateway.admin.get("/api/user/available_models")) == ["gpt-4o-mini"]
    assert sorted(rows(gateway, 'SELECT "group", model, enabled FROM abilities')) == [
        ("default", "gpt-4o-mini", 1), ("vip", "gpt-4o-mini", 1)]


def test_delete_channel_and_its_abilities(gateway: Gateway, mock_url: str) -> None:
    """DELETE /api/channel/:id removes the channel and its abilities; its models stop being routable."""
    [channel] = add(gateway, mock_url, models="gpt-4o-mini,gpt-3.5-turbo")
    [other] = add(gateway, mock_url, models="gpt-3.5-turbo")
    data(gateway.admin.delete(f"/api/channel/{channel['id']}"))
    assert rows(gateway, "SELECT channel_id FROM abilities") == [(other["id"],)]
    assert data(gateway.admin.get("/api/user/available_models")) == ["gpt-3.5-turbo"]
    refused(gateway.admin.get(f"/api/channel/{channel['id']}"), 200, "not found")
    refused(gateway.admin.delete(f"/api/channel/{channel['id']}"), 200, "not found")


def test_delete_disabled_channels_answers_the_count(gateway: Gateway, mock_url: str) -> None:
    """DELETE /api/channel/disabled removes manually (2) and automatically (3) disabled channels, answering how many."""
    ids = [c["id"] for c in add(gateway, mock_url, key="k-0000000001\nk-0000000002\nk-0000000003\nk-0000000004")]
    data(gateway.admin.put("/api/channel/", json={"id": ids[0], "status": 2}))
    data(gateway.admin.put("/api/channel/", json={"id": ids[1], "status": 3}))
    assert data(gateway.admin.delete("/api/channel/disabled")) == 2
    assert [c["id"] for c in data(gateway.admin.get("/api/channel/"))] == [ids[3], ids[2]]
    assert data(gateway.admin.delete("/api/channel/disabled")) == 0


def test_all_models_list(gateway: Gateway) -> None:
    """GET /api/channel/models lists every built-in model as an OpenAI model object."""
    models = data(gateway.admin.get("/api/channel/models"))
    ids = [m["id"] for m in models]
    assert "gpt-4o-mini" in ids and len(ids) == len(set(ids))
    assert all(m["object"] == "model" and isinstance(m["owned_by"], str) for m in models)


def test_add_and_update_refusals_change_nothing(gateway: Gateway, mock_url: str) -> None:
    """Unknown types, bad URLs, bad JSON fields, missing keys and bad ids are refused; nothing is stored."""
    [channel] = add(gateway, mock_url)
    before = snapshot(gateway)
    good = {"type": 1, "name": "x", "key": "k-123456789", "base_url": mock_url, "models": "m"}
    for change in ({"type": 9999}, {"type": 0}, {"type": "1"}, {"base_url": "ftp://example.com"},
                   {"base_url": 5}, {"model_mapping": "not json"}, {"model_mapping": "[1, 2]"},
                   {"model_mapping": 5}, {"config": "{"}, {"key": ""}, {"key": "\n \n"}, {"key": 5},
                   {"priority": "high"}, {"priority": 1.5}, {"weight": -1}, {"status": 9}, {"models": 5},
                   {"type": 3, "base_url": ""}, {"name": ["x"]}):
        refused(gateway.admin.post("/api/channel/", json={**good, **change}), 200)
        if "key" not in change:
            refused(gateway.admin.put("/api/channel/", json={"id": channel["id"], **change}), 200)
    for body in ({"name": "no id"}, {"id": "1"}, {"id": 0}, {"id": 9999, "name": "x"}):
        refused(gateway.admin.put("/api/channel/", json=body), 200)
    for bad in (b"", b"[]", b'{"type": 1', b"type=1"):
        refused(gateway.admin.post("/api/channel/", content=bad), 200)
    assert snapshot(gateway) == before


def test_channel_routes_need_an_admin(gateway: Gateway, alice: tuple[int, httpx.Client], mock_url: str) -> None:
    """A common user is refused (One API's 200) by every channel route and sees no channel data."""
    [channel] = add(gateway, mock_url)
    _, client = alice
    before = snapshot(gateway)
    for method, path, body in (("GET", "/api/channel/", None), ("GET", "/api/channel/search?keyword=m", None),
                               ("GET", "/api/channel/models", None), ("GET", f"/api/channel/{channel['id']}", None),
                               ("POST", "/api/channel/", {"type": 1, "key": "k"}),
                               ("PUT", "/api/channel/", {"id": channel["id"], "key": "stolen"}),
                               ("DELETE", f"/api/channel/{channel['id']}", None),
                               ("DELETE", "/api/channel/disabled", None)):
        response = client.request(method, path, json=body)
        refused(response, 200)
        assert "main" not in response.text
    assert snapshot(gateway) == before
