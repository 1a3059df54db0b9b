"""The code and session stores on SQLite, PostgreSQL and MariaDB: single use under races, and the 0004 migration."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from tests.storage.conftest import Backend
from tollway.accounts import codes
from tollway.accounts.codes import Codes
from tollway.accounts.sessions import SessionRegistry
from tollway.storage.migrate import migrate


async def test_racing_takes_of_one_code_succeed_once(backend: Backend) -> None:
    """Eight nodes taking one code at once: exactly one gets it, on every backend."""
    await migrate(backend.engine)
    store = Codes(backend.engine)
    await store.put(codes.PASSWORD_RESET, "race@example.com", "token-1")
    nodes = [Codes(backend.new_engine(backend.engine.url)) for _ in range(8)]
    taken = await asyncio.gather(*(node.take(codes.PASSWORD_RESET, "race@example.com", "token-1") for node in nodes))
    assert sorted(taken) == [False] * 7 + [True]


async def test_codes_are_bound_and_burn_after_wrong_tries(backend: Backend) -> None:
    await migrate(backend.engine)
    store = Codes(backend.engine)
    await store.put(codes.OAUTH_STATE, "s", "state", bound="browser-a")
    assert not await store.take(codes.OAUTH_STATE, "s", "state", bound="browser-b")
    assert await store.take(codes.OAUTH_STATE, "s", "state", bound="browser-a")
    await store.put(codes.EMAIL_VERIFICATION, "x@example.com", "abc123")
    for _ in range(codes.MAX_ATTEMPTS):
        assert not await store.take(codes.EMAIL_VERIFICATION, "x@example.com", "wrong")
    assert not await store.take(codes.EMAIL_VERIFICATION, "x@example.com", "abc123")


async def test_sessions_end_on_every_node(backend: Backend) -> None:
    """A session ended through one registry is refused by another once it refreshes."""
    await migrate(backend.engine)
    first = SessionRegistry(backend.engine, refresh_s=3600)
    second = SessionRegistry(backend.new_engine(backend.engine.url), refresh_s=3600)
    sid = await first.open(7, "127.0.0.1")
    other = await first.open(7, "127.0.0.1")
    assert await second.alive(sid, 7) and not await second.alive(sid, 8)
    await first.end_user(7, keep=other)
    await second.refresh()
    assert not await second.alive(sid, 7) and await second.alive(other, 7)


async def test_migration_0004_adds_the_tables(backend: Backend) -> None:
    """A Tollway database from before 0004 gains the session and code tables; running it again changes nothing."""
    await migrate(backend.engine)
    await backend.sql("DROP TABLE tollway_sessions")
    await backend.sql("DROP TABLE tollway_codes")
    await backend.sql("DELETE FROM tollway_version WHERE version_num = '0004'")
    await migrate(backend.engine)
    await migrate(backend.engine)
    async with backend.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"tollway_sessions", "tollway_codes"} <= names
    assert [row["version_num"] for row in await backend.sql(
        "SELECT version_num FROM tollway_version WHERE version_num = '0004'")] == ["0004"]
