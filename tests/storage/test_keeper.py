"""The keeper writes quota settled in memory (billing/ledger.py) and queued logs, reloads, retries, and journals
every charge so that a crash or a lost database loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from tests.storage.conftest import Store, log_row, make_keeper
from tollway.billing.ledger import Ledger
from tollway.constants import LogType
from tollway.storage import writes
from tollway.storage.cache import ChannelEntry, TokenEntry, UserEntry
from tollway.storage.keeper import Keeper
from tollway.storage.migrate import migrate


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten close()'s back-off between its final flush attempts; the tests' database never comes back anyway."""
    real_sleep = asyncio.sleep

    async def short_sleep(delay: float, result: Any = None) -> Any:
        return await real_sleep(min(delay, 0.01), result)

    # keeper.py calls asyncio.sleep through the module, so this is the only way in; undone after the test.
    monkeypatch.setattr(asyncio, "sleep", short_sleep)


def in_cache(keeper: Keeper, user: UserEntry, token: TokenEntry,
             channel: ChannelEntry) -> tuple[UserEntry, TokenEntry, ChannelEntry]:
    """The same rows as another keeper's cache holds them."""
    cache = keeper.cache
    return cache.users[user.id], cache.tokens_by_id[token.id], cache.channels[channel.id]


async def test_flush_writes_settled_deltas_and_logs(store: Store) -> None:
    """Settled charges reach users, tokens, channels and logs on flush; holds and refunds write nothing."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    assert await store.charge(user, token, channel, hold=100, cost=30) == 30
    assert await store.charge(user, token, channel, hold=50, cost=70) == 70
    store.ledger.refund(await store.ledger.hold(token, user, 200))
    open_hold = await store.ledger.hold(token, user, 40)
    before = await store.figures(user, token, channel)
    assert (before["quota"], before["used"], before["logs"]) == (1000, 0, 0)
    assert (user.quota.value, user.quota.available, token.remain.available) == (900, 860, 360)

    await store.keeper.flush()
    assert await store.figures(user, token, channel) == {
        "quota": 900, "used": 100, "requests": 2, "remain": 400, "token_used": 100, "channel_used": 100,
        "logs": 2, "logged": 100}
    assert (user.quota.stored, user.quota.unwritten, user.quota.held) == (900, 0, 40)
    assert not (store.cache.dirty_users or store.cache.dirty_tokens or store.cache.dirty_channels)
    assert store.keeper.pending_logs == 0
    [row] = await store.backend.sql("SELECT accessed_time FROM tokens WHERE id = :id", id=token.id)
    assert row["accessed_time"] > 0

    # The open hold settles later; the next flush writes only the new delta.
    store.ledger.settle(open_hold, 25, channel, log_row(user, token, channel))
    await store.keeper.flush()
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["used"], figures["requests"], figures["logs"]) == (875, 125, 3, 3)
    assert figures["logged"] == figures["used"] == figures["token_used"] == figures["channel_used"]


async def test_unlimited_token_is_charged_to_the_user_only(store: Store) -> None:
    """An unlimited token keeps its remain_quota but still records what it used."""
    user, token, channel = await store.seed(quota=300, remain=0, unlimited=True)
    await store.charge(user, token, channel, hold=10, cost=45)
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["remain"], figures["token_used"], figures["logged"]) == (255, 0, 45, 45)


async def test_reload_reads_other_nodes_changes(store: Store) -> None:
    """Another node's direct changes arrive on reload, after this node's own charges are written."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    await store.charge(user, token, channel, hold=10, cost=30)
    sql = store.backend.sql
    await sql("UPDATE users SET quota = quota + 100, used_quota = used_quota + 7 WHERE id = :id", id=user.id)
    await sql("UPDATE tokens SET remain_quota = remain_quota + 50, status = 2 WHERE id = :id", id=token.id)
    await sql("UPDATE channels SET priority = 9, models = 'gpt-4o' WHERE id = :id", id=channel.id)
    other = await writes.insert_user(store.new_keeper(), {"username": "carol", "password": "x", "quota": 5})
    await store.keeper.reload()
    assert (user.quota.value, user.used_quota.value, user.request_count.value) == (1070, 37, 1)
    assert (token.remain.value, token.status) == (520, 2)
    assert (channel.priority, store.routes.table.models("default")) == (9, ["gpt-4o"])
    assert store.cache.users[other["id"]].quota.value == 5
    # The very entries requests hold are refreshed in place, never replaced.
    assert store.cache.users[user.id] is user and store.cache.tokens[token.key] is token
    await sql("DELETE FROM tokens WHERE id = :id", id=token.id)
    await store.keeper.reload()
    assert token.key not in store.cache.tokens


async def test_reload_keeps_charges_settled_while_it_reads(store: Store) -> None:
    """A request settling while reload awaits the database keeps its unwritten charge on top of the fresh figures."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    await store.backend.sql("UPDATE users SET quota = quota + 100 WHERE id = :id", id=user.id)
    settled: list[int] = []
    hold = await store.ledger.hold(token, user, 80)

    def settle_mid_read(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Runs between reload's flush and its read of users: a request finishing on the event loop meanwhile.
        if statement.lstrip().upper().startswith("SELECT") and "FROM users" in statement and not settled:
            settled.append(store.ledger.settle(hold, 60, channel, log_row(user, token, channel)))

    sync_engine = store.backend.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", settle_mid_read)
    try:
        await store.keeper.reload()
    finally:
        event.remove(sync_engine, "before_cursor_execute", settle_mid_read)
    assert settled == [60]
    assert (user.quota.stored, user.quota.unwritten, user.quota.value) == (1100, -60, 1040)
    assert (token.remain.value, channel.used.unwritten) == (440, 60)
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["used"], figures["remain"], figures["logged"]) == (1040, 60, 440, 60)


async def test_failed_quota_flush_keeps_everything_and_writes_once_later(store: Store) -> None:
    """A flush that fails on one table rolls back the others, keeps all queued, and a later flush writes once."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    await store.charge(user, token, channel, hold=10, cost=30)
    await store.charge(user, token, channel, hold=10, cost=20)
    await store.backend.rename_table("channels", "channels_away")
    with pytest.raises(Exception, match="channels"):
        await store.keeper.flush()
    [row] = await store.backend.sql("SELECT quota, used_quota FROM users WHERE id = :id", id=user.id)
    assert (row["quota"], row["used_quota"]) == (1000, 0)
    assert (user.quota.unwritten, token.used.unwritten, channel.used.unwritten) == (-50, 50, 50)
    assert store.keeper.pending_logs == 2
    await store.charge(user, token, channel, hold=10, cost=5)

    await store.backend.rename_table("channels_away", "channels")
    await store.keeper.flush()
    await store.keeper.flush()
    assert await store.figures(user, token, channel) == {
        "quota": 945, "used": 55, "requests": 3, "remain": 445, "token_used": 55, "channel_used": 55,
        "logs": 3, "logged": 55}


async def test_failed_log_flush_writes_neither_quota_nor_logs_and_both_once_later(store: Store) -> None:
    """A call's charge and its log are committed together: when the log insert fails, the charge waits with it."""
    user, token, channel = await store.seed()
    await store.charge(user, token, channel, hold=10, cost=30)
    await store.backend.rename_table("logs", "logs_away")
    with pytest.raises(Exception, match="logs"):
        await store.keeper.flush()
    assert store.keeper.pending_logs == 1
    assert await store.backend.sql("SELECT used_quota FROM users WHERE id = :id", id=user.id) == [{"used_quota": 0}]
    await store.charge(user, token, channel, hold=10, cost=12)
    await store.backend.rename_table("logs_away", "logs")
    await store.keeper.flush()
    await store.keeper.flush()
    figures = await store.figures(user, token, channel)
    assert (figures["used"], figures["logs"], figures["logged"]) == (42, 2, 42)


async def test_close_writes_what_is_queued(store: Store) -> None:
    """A graceful shutdown stops the background loop and writes every settled charge."""
    seeded = await store.seed()
    keeper = store.new_keeper()
    await keeper.start()
    user, token, channel = in_cache(keeper, *seeded)
    ledger = Ledger(keeper.cache, keeper)
    ledger.settle(await ledger.hold(token, user, 10), 33, channel, log_row(user, token, channel))
    await keeper.close()
    figures = await store.figures(user, token, channel)
    assert (figures["used"], figures["logged"]) == (33, 33)
    assert not list(keeper.journal.directory.glob("*.jnl"))


@pytest.mark.usefixtures("quick_retries")
async def test_close_leaves_the_journal_when_database_is_gone_and_start_replays_once(store: Store) -> None:
    """With the database unreachable at shutdown the charges stay in the journal; the next start writes them once."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    await store.charge(user, token, channel, hold=10, cost=30)
    await store.charge(user, token, channel, hold=10, cost=20)
    gone = store.backend.unreachable_engine()
    store.keeper.engine = store.keeper.log_engine = gone
    await store.keeper.close(grace=5)
    segments = list(store.keeper.journal.directory.glob("*.jnl"))
    assert segments and b"".join(path.read_bytes() for path in segments).count(b"\n") == 2
    assert (await store.figures(user, token, channel))["used"] == 0

    for _ in range(2):  # the second start finds nothing left to replay
        keeper = store.new_keeper()
        await keeper.start()
        await keeper.close()
        assert not list(keeper.journal.directory.glob("*.jnl"))
        assert keeper.cache.users[user.id].quota.value == 950
    assert await store.figures(user, token, channel) == {
        "quota": 950, "used": 50, "requests": 2, "remain": 450, "token_used": 50, "channel_used": 50,
        "logs": 2, "logged": 50}


@pytest.mark.usefixtures("quick_retries")
async def test_replay_interrupted_by_log_failure_never_charges_twice(store: Store) -> None:
    """If the journal cannot be replayed at start, retrying the start replays it once."""
    user, token, channel = await store.seed(quota=1000, remain=500)
    await store.charge(user, token, channel, hold=10, cost=30)
    store.keeper.engine = store.keeper.log_engine = store.backend.unreachable_engine()
    await store.keeper.close()
    await store.backend.rename_table("logs", "logs_away")
    with pytest.raises(Exception, match="logs"):
        await store.new_keeper().start()
    await store.backend.rename_table("logs_away", "logs")
    keeper = store.new_keeper()
    await keeper.start()
    await keeper.close()
    figures = await store.figures(user, token, channel)
    assert (figures["quota"], figures["used"], figures["requests"], figures["logs"]) == (970, 30, 1, 1)


async def test_separate_log_database(store: Store) -> None:
    """With LOG_SQL_DSN the consume logs and management logs go to the log database only."""
    logs_engine = store.backend.logs_engine()
    await migrate(logs_engine, role="logs")
    user, token, channel = await store.seed()
    keeper = make_keeper(store.backend, store.backend.engine, logs_engine)
    await keeper.reload()
    entries = in_cache(keeper, user, token, channel)
    ledger = Ledger(keeper.cache, keeper)
    ledger.settle(await ledger.hold(entries[1], entries[0], 5), 8, entries[2], log_row(*entries))
    await writes.write_log(keeper, user_id=user.id, username=user.username, kind=LogType.TOPUP, content="top-up",
                           quota=100)
    await keeper.flush()
    assert await store.backend.sql("SELECT quota FROM logs") == []
    rows = await store.backend.sql("SELECT type, quota FROM logs ORDER BY type", engine=logs_engine)
    assert rows == [{"type": LogType.TOPUP, "quota": 100}, {"type": LogType.CONSUME, "quota": 8}]
    assert (await store.figures(user, token, channel))["used"] == 8


async def test_close_while_background_flush_commits_writes_once(store: Store) -> None:
    """Shutting down while the background loop is committing a flush neither loses nor repeats that flush."""
    seeded = await store.seed()
    keeper = make_keeper(store.backend, store.backend.engine, flush_interval=0.01)
    await keeper.start()
    user, token, channel = in_cache(keeper, *seeded)
    ledger = Ledger(keeper.cache, keeper)
    ledger.settle(await ledger.hold(token, user, 10), 30, channel, log_row(user, token, channel))
    closing: list[asyncio.Task[None]] = []

    def close_during_commit(_conn: Any) -> None:
        # The shutdown signal arrives while the loop's flush is committing its quota.
        if not closing:
            closing.append(asyncio.get_running_loop().create_task(keeper.close()))

    sync_engine = store.backend.engine.sync_engine
    event.listen(sync_engine, "commit", close_during_commit)
    try:
        for _ in range(200):
            if closing:
                break
            await asyncio.sleep(0.01)
        await closing[0]
    finally:
        event.remove(sync_engine, "commit", close_during_commit)
    figures = await store.figures(user, token, channel)
    assert (figures["used"], figures["requests"], figures["channel_used"], figures["logged"]) == (30, 1, 30, 30)
