"""Many requests at once against a small quota, with the keeper flushing and reloading underneath them."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from tests.storage.conftest import Store, log_row, make_keeper
from tollway.billing.ledger import Ledger
from tollway.errors import InsufficientQuota
from tollway.storage import writes
from tollway.storage.cache import ChannelEntry, TokenEntry, UserEntry
from tollway.storage.keeper import Keeper

REQUESTS = 300


@dataclass
class Tally:
    """What the requests of one node did, as the relay would have reported it."""

    charged: int = 0
    settled: int = 0
    refused: int = 0
    lowest: list[int] = field(default_factory=list)


def busy_keeper(store: Store) -> Keeper:
    """A keeper whose background loop flushes every 10 ms and reloads every 50 ms, so both race the requests."""
    return make_keeper(store.backend, store.backend.engine, flush_interval=0.01, sync_interval=0.05)


async def request(ledger: Ledger, user: UserEntry, token: TokenEntry, channel: ChannelEntry, rng: random.Random,
                  tally: Tally) -> None:
    """One relay call: reserve, wait for the upstream, then settle (sometimes dearer than held) or refund."""
    # Arrivals spread over ~0.3 s so that many flushes and several reloads happen while requests are open.
    await asyncio.sleep(rng.random() * 0.3)
    hold_amount = rng.randint(1, 60)
    try:
        hold = await ledger.hold(token, user, hold_amount)
    except InsufficientQuota:
        tally.refused += 1
        return
    tally.lowest.append(min(user.quota.available, token.remain.available))
    await asyncio.sleep(rng.random() * 0.02)
    if rng.random() < 0.2:
        ledger.refund(hold)
    else:
        tally.charged += ledger.settle(hold, rng.randint(0, hold_amount * 2), channel, log_row(user, token, channel))
        tally.settled += 1
    tally.lowest.append(min(user.quota.available, token.remain.available, user.quota.value, token.remain.value))


async def test_concurrent_reservations_never_overdraw(store: Store) -> None:
    """Concurrent holds never take a user or token below zero, and afterwards the database equals the logs."""
    seeded = await store.seed(quota=3000, remain=2000)
    keeper = busy_keeper(store)
    await keeper.start()
    cache = keeper.cache
    user, token, channel = cache.users[seeded[0].id], cache.tokens_by_id[seeded[1].id], cache.channels[seeded[2].id]
    ledger, rng, tally = Ledger(cache, keeper), random.Random(20240601), Tally()
    reloads: list[int] = []
    reload = keeper.reload

    async def counted_reload() -> None:
        reloads.append(1)
        await reload()

    keeper.reload = counted_reload
    written_mid_run: list[dict[str, int]] = []

    async def other_node_tops_up() -> None:
        # Another node (or an operator's SQL) adds quota while this node is busy; a reload brings it in.
        await asyncio.sleep(0.1)
        await store.backend.sql("UPDATE users SET quota = quota + 1000 WHERE id = :id", id=user.id)
        await store.backend.sql("UPDATE tokens SET remain_quota = remain_quota + 500 WHERE id = :id", id=token.id)
        await asyncio.sleep(0.1)
        written_mid_run.append(await store.figures(user, token, channel))

    await asyncio.gather(other_node_tops_up(),
                         *(request(ledger, user, token, channel, rng, tally) for _ in range(REQUESTS)))
    await keeper.close()

    assert min(tally.lowest) >= 0
    assert tally.refused > 0, "the quota was never exhausted, so the test proved nothing"
    assert len(reloads) >= 2 and written_mid_run[0]["logs"] > 0, "the keeper never raced the requests"
    figures = await store.figures(user, token, channel)
    assert figures["logged"] == tally.charged == figures["used"] == figures["token_used"] == figures["channel_used"]
    assert figures["logs"] == tally.settled == figures["requests"]
    assert figures["quota"] == 3000 + 1000 - tally.charged >= 0
    assert figures["remain"] == 2000 + 500 - tally.charged >= 0


async def test_two_nodes_share_a_channel(store: Store) -> None:
    """Two nodes charging through one channel never lose each other's usage: sums equal the logs on every row."""
    first = await store.seed(quota=4000, remain=4000, name="alice")
    second_user = await writes.insert_user(store.keeper, {"username": "bob", "password": "x", "quota": 4000})
    second_token = await writes.insert_token(store.keeper, {"user_id": second_user["id"], "key": "b" * 48,
                                                            "name": "bob token", "remain_quota": 4000})
    nodes = [busy_keeper(store), busy_keeper(store)]
    tallies = [Tally(), Tally()]
    calls = []
    for index, keeper in enumerate(nodes):
        await keeper.start()
        cache = keeper.cache
        user_id, token_id = (first[0].id, first[1].id) if index == 0 else (second_user["id"], second_token["id"])
        user, token, channel = cache.users[user_id], cache.tokens_by_id[token_id], cache.channels[first[2].id]
        ledger, rng = Ledger(cache, keeper), random.Random(index)
        calls += [request(ledger, user, token, channel, rng, tallies[index]) for _ in range(REQUESTS // 2)]
    await asyncio.gather(*calls)
    for keeper in nodes:
        await keeper.close()

    for tally in tallies:
        assert min(tally.lowest) >= 0
    [channel_row] = await store.backend.sql("SELECT used_quota FROM channels WHERE id = :id", id=first[2].id)
    [logs] = await store.backend.sql("SELECT COALESCE(SUM(quota), 0) AS total FROM logs")
    assert int(channel_row["used_quota"]) == int(logs["total"]) == tallies[0].charged + tallies[1].charged
    users = await store.backend.sql("SELECT id, quota, used_quota, request_count FROM users ORDER BY id")
    for row, tally in zip(users, tallies, strict=True):
        assert (row["quota"], row["used_quota"], row["request_count"]) == (4000 - tally.charged, tally.charged,
                                                                          tally.settled)
