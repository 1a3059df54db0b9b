"""Quota leases: several processes (keepers) spending one user's and one token's small balance at once never overdraw
it; a stopped process's leases come back through its journal or, on another disk, when they expire."""

from __future__ import annotations

import asyncio
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.storage.conftest import Backend, Store, log_row, make_keeper
from tollway.billing.ledger import Ledger
from tollway.errors import InsufficientQuota
from tollway.storage import leases
from tollway.storage.cache import ChannelEntry, TokenEntry, UserEntry
from tollway.storage.database import begin_write
from tollway.storage.keeper import Keeper
from tollway.storage.leases import TOKEN, USER


@dataclass
class Node:
    """One process: its keeper, ledger and the seeded rows as its cache holds them."""

    keeper: Keeper
    ledger: Ledger
    user: UserEntry
    token: TokenEntry
    channel: ChannelEntry
    charged: int = 0
    settled: int = 0
    refused: int = 0
    lowest: list[int] = field(default_factory=list)


async def start_node(store: Store, seeded: tuple[UserEntry, TokenEntry, ChannelEntry], *, spill: Path | None = None,
                     flush_interval: float = 0.01, ttl: int = 60) -> Node:
    backend = store.backend
    keeper = make_keeper(backend, backend.engine, flush_interval=flush_interval)
    keeper.leases.ttl = ttl
    if spill is not None:
        keeper.spill_dir = spill
        keeper.journal.directory = spill / "journal"
    await keeper.start()
    cache = keeper.cache
    user, token, channel = seeded
    return Node(keeper, Ledger(cache, keeper), cache.users[user.id], cache.tokens_by_id[token.id],
                cache.channels[channel.id])


async def call(node: Node, rng: random.Random) -> None:
    """One relay call: hold, wait for the upstream, then settle (sometimes dearer than held) or refund."""
    await asyncio.sleep(rng.random() * 0.2)
    amount = rng.randint(1, 20)
    try:
        hold = await node.ledger.hold(node.token, node.user, amount)
    except InsufficientQuota:
        node.refused += 1
        return
    node.lowest.append(min(node.user.quota.spendable, node.token.remain.spendable))
    await asyncio.sleep(rng.random() * 0.02)
    if rng.random() < 0.2:
        node.ledger.refund(hold)
        return
    cost = rng.randint(0, amount * 2)
    await node.ledger.cover(hold, cost)
    node.charged += node.ledger.settle(hold, cost, node.channel, log_row(node.user, node.token, node.channel))
    node.settled += 1
    node.lowest.append(min(node.user.quota.spendable, node.token.remain.spendable))


async def lease_rows(backend: Backend) -> list[dict[str, object]]:
    return await backend.sql("SELECT owner, kind, subject, amount FROM tollway_leases ORDER BY owner, kind, subject")


async def leased(backend: Backend, user: UserEntry, token: TokenEntry) -> tuple[int, int]:
    [u] = await backend.sql("SELECT leased FROM users WHERE id = :id", id=user.id)
    [t] = await backend.sql("SELECT leased FROM tokens WHERE id = :id", id=token.id)
    return int(u["leased"]), int(t["leased"])


async def test_four_processes_never_overdraw_one_small_balance(store: Store) -> None:
    """Four processes spend one user's 600 and one token's 400 with 80 calls each at once: nobody goes below zero,
    the logs equal the used quota, and once they stop every lease is given back."""
    seeded = await store.seed(quota=600, remain=400)
    nodes = [await start_node(store, seeded) for _ in range(4)]
    rngs = [random.Random(index) for index in range(4)]
    await asyncio.gather(*(call(node, rng) for node, rng in zip(nodes, rngs, strict=True) for _ in range(80)))
    for node in nodes:
        await node.keeper.close()

    charged = sum(node.charged for node in nodes)
    assert min(min(node.lowest) for node in nodes if node.lowest) >= 0
    assert sum(node.refused for node in nodes) > 0, "the balance was never exhausted, so the test proved nothing"
    figures = await store.figures(*seeded)
    assert figures["logged"] == charged == figures["used"] == figures["token_used"] == figures["channel_used"]
    assert figures["logs"] == sum(node.settled for node in nodes) == figures["requests"]
    assert figures["remain"] == 400 - charged >= 0 and figures["quota"] == 600 - charged
    assert await lease_rows(store.backend) == [] and await leased(store.backend, *seeded[:2]) == (0, 0)


async def test_a_slice_is_a_quarter_of_what_is_free_near_zero(store: Store) -> None:
    """Ample balance: the slice asked for; little left: a quarter of what is free, at least the need; less than the
    need free: nothing, so the last calls are served exactly."""
    user, token, _ = await store.seed(quota=1000, remain=1000)
    async with begin_write(store.backend.engine) as conn:
        first = await leases.take(conn, "a" * 16, "n", (USER, user.id), 100, 10, 60)
        second = await leases.take(conn, "b" * 16, "n", (USER, user.id), 800, 10, 60)
        third = await leases.take(conn, "c" * 16, "n", (USER, user.id), 800, 700, 60)
        fourth = await leases.take(conn, "c" * 16, "n", (USER, user.id), 800, 500, 60)
        fifth = await leases.take(conn, "c" * 16, "n", (USER, user.id), 100, 100, 60, eager=False)
    assert first is not None and (first.granted, first.figure, first.leased) == (100, 1000, 100)
    assert second is not None and second.granted == 225  # (1000 - 100) // 4
    assert third is not None and third.granted == 0  # 675 free: less than the need
    assert fourth is not None and fourth.granted == 500  # the need, more than a quarter of what is free
    assert fifth is not None and fifth.granted == 0  # a background top-up takes only from an ample balance
    rows = await lease_rows(store.backend)
    assert [(r["owner"], r["amount"]) for r in rows] == [("a" * 16, 100), ("b" * 16, 225), ("c" * 16, 500)]
    assert await leased(store.backend, user, token) == (825, 0)


async def test_a_killed_process_is_replayed_from_its_journal_and_its_leases_come_back(store: Store) -> None:
    """A process stops without a flush (SIGKILL): the next start on the same disk writes its charges once from the
    journal, out of its leases, and gives the rest of the leases back."""
    seeded = await store.seed(quota=1000, remain=500)
    dead = await start_node(store, seeded, flush_interval=3600)
    for cost in (30, 20):
        hold = await dead.ledger.hold(dead.token, dead.user, 10)
        await dead.ledger.cover(hold, cost)
        dead.ledger.settle(hold, cost, dead.channel, log_row(dead.user, dead.token, dead.channel))
    assert await lease_rows(store.backend) != []
    await kill(dead.keeper)
    assert (await store.figures(*seeded))["used"] == 0

    successor = await start_node(store, seeded)
    await successor.keeper.close()
    assert await store.figures(*seeded) == {
        "quota": 950, "used": 50, "requests": 2, "remain": 450, "token_used": 50, "channel_used": 50,
        "logs": 2, "logged": 50}
    assert await lease_rows(store.backend) == [] and await leased(store.backend, *seeded[:2]) == (0, 0)


async def test_expired_leases_come_back_and_a_late_journal_never_overdraws(store: Store, tmp_path: Path) -> None:
    """A process on another disk stops: its leases expire and come back (quota never vanishes). Others spend the
    balance to the end; when the lost disk's journal is replayed later, its charges are capped at what is left."""
    seeded = await store.seed(quota=100, remain=100)
    other_disk = tmp_path / "other-disk"
    dead = await start_node(store, seeded, spill=other_disk, flush_interval=3600)
    hold = await dead.ledger.hold(dead.token, dead.user, 40)
    dead.ledger.settle(hold, 40, dead.channel, log_row(dead.user, dead.token, dead.channel))
    await kill(dead.keeper)
    kept = tmp_path / "kept-journal"
    shutil.copytree(other_disk / "journal", kept)  # the disk is away; its journal comes back later
    shutil.rmtree(other_disk)

    alive = await start_node(store, seeded)
    await store.backend.sql("UPDATE tollway_leases SET expires_at = 0")  # as if LEASE_TTL had passed
    async with begin_write(store.backend.engine) as conn:
        reclaimed = await leases.reclaim_expired(conn)
    assert {(key, amount) for _, key, amount in reclaimed} >= {((USER, seeded[0].id), 40)}
    assert await leased(store.backend, *seeded[:2]) == (0, 0)
    for _ in range(10):  # the whole balance, as if the dead process's calls were never made
        hold = await alive.ledger.hold(alive.token, alive.user, 10)
        alive.ledger.settle(hold, 10, alive.channel, log_row(alive.user, alive.token, alive.channel))
    with pytest.raises(InsufficientQuota):
        await alive.ledger.hold(alive.token, alive.user, 1, patient=False)
    await alive.keeper.close()

    shutil.copytree(kept, other_disk / "journal")
    late = await start_node(store, seeded, spill=other_disk)
    await late.keeper.close()
    figures = await store.figures(*seeded)
    assert (figures["quota"], figures["remain"], figures["logs"]) == (0, 0, 11)
    assert figures["used"] == figures["logged"] == figures["token_used"] == 100
    [capped] = await store.backend.sql("SELECT quota, content FROM logs WHERE quota = 0")
    assert "not charged" in str(capped["content"])


async def test_a_flush_after_its_lease_was_reclaimed_stays_within_the_balance(store: Store) -> None:
    """A live process cut off from the database past LEASE_TTL: another node reclaims its lease and spends the
    balance; the late flush charges only what is left, and logs say what was not charged."""
    seeded = await store.seed(quota=100, remain=100)
    slow = await start_node(store, seeded, flush_interval=3600)
    hold = await slow.ledger.hold(slow.token, slow.user, 30)
    slow.ledger.settle(hold, 30, slow.channel, log_row(slow.user, slow.token, slow.channel))
    await store.backend.sql("UPDATE tollway_leases SET expires_at = 0")
    async with begin_write(store.backend.engine) as conn:
        await leases.reclaim_expired(conn)
    await store.backend.sql("UPDATE users SET quota = 10")  # others spent the rest meanwhile
    await slow.keeper.flush()
    await slow.keeper.close()
    figures = await store.figures(*seeded)
    assert (figures["quota"], figures["used"], figures["logged"], figures["remain"]) == (0, 10, 10, 90)
    assert await lease_rows(store.backend) == [] and await leased(store.backend, *seeded[:2]) == (0, 0)


async def test_a_recall_frees_other_processes_slices(store: Store) -> None:
    """Process A holds most of a small balance; B needs more than is free: A gives its slice back on B's recall and
    B's call is served."""
    seeded = await store.seed(quota=100, remain=100)
    a = await start_node(store, seeded, flush_interval=3600)
    b = await start_node(store, seeded, flush_interval=3600)
    a.ledger.refund(await a.ledger.hold(a.token, a.user, 60))  # A's slice: 60 of 100
    recalled: list[tuple[str, int]] = []

    async def recall(key: tuple[str, int]) -> None:  # what the change follower does between processes
        recalled.append(key)
        a.keeper.leases.recall(key)
        await a.keeper.flush()

    b.keeper.leases.recaller = recall
    hold = await b.ledger.hold(b.token, b.user, 80)
    assert hold.amount == 80 and (USER, seeded[0].id) in recalled and (TOKEN, seeded[1].id) in recalled
    b.ledger.refund(hold)
    for node in (a, b):
        await node.keeper.close()
    assert await lease_rows(store.backend) == []


async def kill(keeper: Keeper) -> None:
    """Stop a keeper as SIGKILL would: no flush, leases left, journal segments unlocked on disk."""
    if keeper._task is not None:
        keeper._task.cancel()
        await asyncio.gather(keeper._task, return_exceptions=True)
    keeper.journal.close()
