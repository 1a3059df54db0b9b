"""Dashboard roll-ups stay equal to the logs they sum: through flushes, deletions in batches, imports, races."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.storage import one_api
from tests.storage.conftest import Backend, Store
from tollway.constants import LogType
from tollway.storage import rollups, schema, writes
from tollway.storage.keeper import Keeper
from tollway.storage.log_deletion import delete_before
from tollway.storage.migrate import migrate

DAY = 86400
T0 = 1_700_000_000 - 1_700_000_000 % DAY  # a UTC midnight


def consume(user_id: int, at: int, model: str, quota: int, *, kind: int = LogType.CONSUME) -> dict[str, Any]:
    return {"user_id": user_id, "created_at": at, "type": kind, "content": "", "username": f"u{user_id}",
            "token_name": "t", "model_name": model, "quota": quota, "prompt_tokens": quota % 7,
            "completion_tokens": quota % 5, "channel_id": 1}


async def stored_rollups(engine: AsyncEngine) -> dict[tuple[int, int, str], tuple[int, int, int, int]]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(schema.log_rollups))).mappings().all()
    return {(int(r["user_id"]), int(r["day"]), str(r["model_name"])): (
        int(r["request_count"]), int(r["quota"]), int(r["prompt_tokens"]), int(r["completion_tokens"]))
        for r in found}


async def summed_logs(engine: AsyncEngine) -> dict[tuple[int, int, str], tuple[int, int, int, int]]:
    """What the roll-ups should hold: the consume logs grouped straight from the log table."""
    async with engine.connect() as conn:
        found = (await conn.execute(rollups.grouped(True))).mappings().all()
        found += (await conn.execute(rollups.grouped(True, everyone=True))).mappings().all()
    return {(int(r["user_id"]), int(r["day"]), str(r["model_name"])): (
        int(r["request_count"]), int(r["quota"]), int(r["prompt_tokens"]), int(r["completion_tokens"]))
        for r in found}


async def assert_in_step(engine: AsyncEngine) -> None:
    assert await stored_rollups(engine) == await summed_logs(engine)


def traffic(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Logs over 10 days for 3 users and 3 models, with some management logs mixed in."""
    rows = []
    for _ in range(count):
        kind = LogType.CONSUME if rng.random() < 0.9 else rng.choice([1, 3, 4, 5])
        rows.append(consume(rng.randint(1, 3), T0 + rng.randint(0, 10 * DAY - 1),
                            rng.choice(["gpt-4o", "gpt-4o-mini", "o3"]), rng.randint(0, 5000), kind=kind))
    return rows


async def flush_all(keeper: Keeper, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        keeper.add_log(row)
    await keeper.flush()


async def test_flushes_add_and_batched_deletes_subtract(store: Store) -> None:
    """Roll-ups equal the grouped logs after flushes, after deletions at day and mid-day cut-offs, and at the end."""
    engine, keeper = store.backend.engine, store.keeper
    rng = random.Random(7)
    await flush_all(keeper, traffic(rng, 600))
    await flush_all(keeper, traffic(rng, 300))  # the same days and models again: upserts add up
    await assert_in_step(engine)
    day = await stored_rollups(engine)
    assert {key[1] for key in day} <= {T0 + n * DAY for n in range(10)}
    deleted = await delete_before(engine, T0 + 3 * DAY, batch=37)
    await assert_in_step(engine)
    deleted += await delete_before(engine, T0 + 5 * DAY + 4321, batch=50)  # mid-day: partial sums remain
    await assert_in_step(engine)
    [left] = await store.backend.sql("SELECT COUNT(*) AS n FROM logs")
    assert deleted + int(left["n"]) == 900
    assert all(key[1] >= T0 + 5 * DAY for key in await stored_rollups(engine))
    assert await delete_before(engine, T0 + 5 * DAY) == 0
    await delete_before(engine, T0 + 100 * DAY)
    assert await stored_rollups(engine) == {}


async def test_management_logs_and_journal_replay_count_like_flushes(store: Store) -> None:
    """A consume log written by write_log or replayed from a journal counts; other types never do."""
    engine, keeper = store.backend.engine, store.keeper
    await writes.write_log(keeper, user_id=1, username="u1", kind=LogType.TOPUP, content="top-up", quota=99)
    await writes.write_log(keeper, user_id=1, username="u1", kind=LogType.CONSUME, content="odd", quota=5,
                           model_name="m", created_at=T0)
    assert await stored_rollups(engine) == {(1, T0, "m"): (1, 5, 0, 0), (rollups.EVERYONE, T0, "m"): (1, 5, 0, 0)}
    keeper.add_log(consume(2, T0 + 10, "m", 10))
    keeper.journal.close()  # what a crash leaves behind: the journal, nothing written
    replaying = store.new_keeper()
    await replaying.start()
    await replaying.close()
    await assert_in_step(engine)
    assert (await stored_rollups(engine))[(2, T0, "m")] == (1, 10, 3, 0)


async def test_deleting_while_the_keeper_writes(store: Store) -> None:
    """Batched deletion with pauses beside a keeper flushing new logs every few ms: no error, sums in step."""
    engine, keeper = store.backend.engine, store.keeper
    rng = random.Random(11)
    await flush_all(keeper, traffic(rng, 800))
    stop = asyncio.Event()

    async def busy_keeper() -> int:
        written = 0
        while not stop.is_set():
            await flush_all(keeper, [consume(rng.randint(1, 3), T0 + 9 * DAY + rng.randint(0, 999), "live", 3)
                                     for _ in range(20)])
            written += 20
            await asyncio.sleep(0.002)
        return written

    writer = asyncio.create_task(busy_keeper())
    deleted = await delete_before(engine, T0 + 8 * DAY, batch=25, pause=0.001)
    stop.set()
    written = await writer
    await assert_in_step(engine)
    [left] = await store.backend.sql("SELECT COUNT(*) AS n FROM logs")
    assert deleted + int(left["n"]) == 800 + written and deleted > 0


async def test_import_backfills_from_existing_logs(backend: Backend) -> None:
    """A One API database's consume logs are summed into the roll-ups when it is first migrated, and only then."""
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn)
    await migrate(backend.engine)
    expected = await summed_logs(backend.engine)
    assert expected and await stored_rollups(backend.engine) == expected
    await migrate(backend.engine)  # not summed twice
    assert await stored_rollups(backend.engine) == expected
    async with backend.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: {i["name"] for i in inspect(sync).get_indexes("logs")})
    assert "idx_logs_type_id" in indexes and "idx_created_at_type" in indexes
    assert "idx_logs_username_id" in indexes
    assert ("idx_logs_token_name_id" in indexes) is (backend.name == "postgresql")
