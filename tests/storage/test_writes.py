"""storage/writes.py changes cached rows in the database and keeps the cache (and unwritten charges) in step."""

from __future__ import annotations

from typing import Any

from tests.storage.conftest import Store
from tollway.storage import writes


async def abilities(store: Store, channel_id: int) -> set[tuple[str, str, bool, int]]:
    """A channel's ability rows as (group, model, enabled, priority)."""
    rows = await store.backend.sql(
        f"SELECT {store.backend.quote('group')} AS g, model, enabled, priority FROM abilities WHERE channel_id = :id",
        id=channel_id)
    return {(row["g"], row["model"], bool(row["enabled"]), int(row["priority"])) for row in rows}


async def test_update_user_quota_discards_unwritten_quota_but_keeps_counters(store: Store) -> None:
    """Setting quota replaces the balance, yet the used quota and request count of settled requests still land.

    (The charges settled before the change are written first, so the journal and the database stay in step.)
    """
    user, token, channel = await store.seed(quota=1000)
    await store.charge(user, token, channel, hold=10, cost=30)
    await writes.update_user(store.keeper, user.id, {"quota": 5000, "group": "vip"})
    assert (user.quota.value, user.quota.unwritten, user.used_quota.value, user.group) == (5000, 0, 30, "vip")
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["used"], figures["requests"], figures["logged"]) == (5000, 30, 1, 30)


async def test_update_user_without_quota_keeps_unwritten_quota(store: Store) -> None:
    """Changing other fields leaves settled charges to be written."""
    user, token, channel = await store.seed(quota=1000)
    await store.charge(user, token, channel, hold=10, cost=30)
    await writes.update_user(store.keeper, user.id, {"display_name": "Alice", "status": 2})
    assert (user.quota.value, user.status) == (970, 2)
    await store.keeper.flush()
    assert (await store.figures(user, token, channel))["quota"] == 970


async def test_add_user_quota_keeps_charges_in_flight(store: Store) -> None:
    """A top-up is a delta: the database gains it at once, and unwritten charges and holds survive it."""
    user, token, channel = await store.seed(quota=1000)
    await store.charge(user, token, channel, hold=10, cost=30)
    hold = await store.ledger.hold(token, user, 100)
    await writes.add_user_quota(store.keeper, user.id, 500)
    assert (await store.figures(user, token, channel))["quota"] == 1500
    assert (user.quota.value, user.quota.available, user.used_quota.unwritten) == (1470, 1370, 30)
    await writes.add_user_quota(store.keeper, user.id, -70)
    store.ledger.settle(hold, 40, channel, None)
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["used"], figures["requests"]) == (1360, 70, 2)


async def test_update_token_remain_quota_and_delete(store: Store) -> None:
    """Setting remain_quota replaces the token's balance; deleting drops it from the cache."""
    user, token, channel = await store.seed(remain=500)
    await store.charge(user, token, channel, hold=10, cost=30)
    await writes.update_token(store.keeper, token.id, {"remain_quota": 200, "name": "renamed"})
    assert (token.remain.value, token.used.value, token.name) == (200, 30, "renamed")
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["remain"], figures["token_used"]) == (200, 30)
    await writes.delete_token(store.keeper, token.id)
    assert token.key not in store.cache.tokens and token.id not in store.cache.tokens_by_id
    assert await store.backend.sql("SELECT id FROM tokens") == []


async def test_insert_user_indexes_access_token(store: Store) -> None:
    """New users are cached at once, findable by their management access token."""
    row = await writes.insert_user(store.keeper, {"username": "dave", "password": "x", "access_token": "e" * 32})
    assert store.cache.access_tokens["e" * 32] == row["id"]
    await writes.update_user(store.keeper, row["id"], {"access_token": "f" * 32})
    assert "e" * 32 not in store.cache.access_tokens and store.cache.access_tokens["f" * 32] == row["id"]


def channel_values(**fields: Any) -> dict[str, Any]:
    return {"type": 1, "key": "sk-plain", "name": "c", "status": 1, **fields}


async def test_channel_abilities_are_groups_times_models(store: Store) -> None:
    """Insert, update, disable and delete keep abilities equal to groups × models with status and priority."""
    [row] = await writes.insert_channels(store.keeper, [channel_values(
        models="gpt-4o, gpt-4o-mini,gpt-4o,", group="default,vip, default", priority=3)])
    channel_id = row["id"]
    expected = {(g, m, True, 3) for g in ("default", "vip") for m in ("gpt-4o", "gpt-4o-mini")}
    assert await abilities(store, channel_id) == expected
    assert store.routes.table.models("vip") == ["gpt-4o", "gpt-4o-mini"]

    await writes.update_channel(store.keeper, channel_id, {"models": "claude-3", "group": "svip", "priority": 7})
    assert await abilities(store, channel_id) == {("svip", "claude-3", True, 7)}
    assert store.routes.table.models("vip") == [] and store.routes.table.serves("svip", "claude-3")

    await writes.update_channel(store.keeper, channel_id, {"status": 2})
    assert await abilities(store, channel_id) == {("svip", "claude-3", False, 7)}
    assert not store.routes.table.serves("svip", "claude-3")

    await writes.update_channel(store.keeper, channel_id, {"status": 1, "group": ""})
    assert await abilities(store, channel_id) == {("default", "claude-3", True, 7)}

    assert await writes.delete_channels(store.keeper, [channel_id]) == 1
    assert await abilities(store, channel_id) == set()
    assert channel_id not in store.cache.channels and store.routes.table.groups() == []


async def test_insert_channels_in_one_batch(store: Store) -> None:
    """A batch insert writes every channel and its abilities, disabled ones included but not routed."""
    rows = await writes.insert_channels(store.keeper, [
        channel_values(name="a", models="m1", group="default"),
        channel_values(name="b", models="m1,m2", group="default", status=2, priority=1),
    ])
    assert await abilities(store, rows[0]["id"]) == {("default", "m1", True, 0)}
    assert await abilities(store, rows[1]["id"]) == {("default", "m1", False, 1), ("default", "m2", False, 1)}
    assert store.routes.table.models("default") == ["m1"]


async def test_channel_used_quota_survives_channel_edits(store: Store) -> None:
    """Editing a channel while it has unwritten usage keeps that usage for the next flush."""
    user, token, channel = await store.seed()
    await store.charge(user, token, channel, hold=10, cost=30)
    await writes.update_channel(store.keeper, channel.id, {"name": "renamed", "priority": 2})
    assert (channel.used.value, channel.name) == (30, "renamed")
    await store.keeper.flush()
    assert (await store.figures(user, token, channel))["channel_used"] == 30


async def test_set_option_inserts_then_updates(store: Store) -> None:
    """Options are upserted and applied to the cache at once."""
    await writes.set_option(store.keeper, "QuotaPerUnit", 1000.0)
    await writes.set_option(store.keeper, "QuotaPerUnit", 2000.0)
    rows = await store.backend.sql("SELECT value FROM options")
    assert len(rows) == 1 and float(rows[0]["value"]) == 2000.0
    assert store.cache.options["QuotaPerUnit"] == 2000.0


async def test_set_channel_status_keeps_reason_and_time_and_respects_the_operator(store: Store) -> None:
    """Tollway switches a channel only from the status it expects, keeping why and when; the cache and the
    abilities follow at once."""
    _, _, channel = await store.seed()
    row = await writes.set_channel_status(store.keeper, channel.id, 3, "the key was refused", only_from=(1,))
    assert row is not None and (row["status"], row["status_reason"]) == (3, "the key was refused")
    assert row["status_time"] > 0 and channel.status == 3
    assert await abilities(store, channel.id) == {("default", "gpt-4o-mini", False, 0)}
    assert store.routes.table.pick("default", "gpt-4o-mini") is None
    # Already off: a second automatic disable changes nothing (an operator's status 2 neither).
    assert await writes.set_channel_status(store.keeper, channel.id, 3, "again", only_from=(1,)) is None
    [stored] = await store.backend.sql("SELECT status_reason FROM channels WHERE id = :id", id=channel.id)
    assert stored["status_reason"] == "the key was refused"
    row = await writes.set_channel_status(store.keeper, channel.id, 1, "passed its test", only_from=(3,))
    assert row is not None and channel.status == 1 and store.routes.table.pick("default", "gpt-4o-mini") is channel
    assert await writes.set_channel_status(store.keeper, 999_999, 3, "gone") is None
