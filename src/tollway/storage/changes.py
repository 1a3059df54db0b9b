"""The change log: a row per change other processes must pick up, written in the change's own transaction.

Every management write to a cached table (storage/writes.py) records what it changed; every process polls the rows
after the last it saw (operations/changes.py) and reloads just those rows. Ids of transactions that commit out of
order leave gaps for a moment: the poller looks at those ids again until they appear or are surely rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import RowMapping, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import schema

USER, TOKEN, CHANNEL, OPTIONS, RECALL, SESSION = "user", "token", "channel", "options", "recall", "session"
_changes = schema.changes
_TABLES = {USER: schema.users, TOKEN: schema.tokens, CHANNEL: schema.channels}


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded change."""

    id: int
    kind: str
    ref: str
    origin: str


async def record(conn: AsyncConnection, kind: str, refs: Iterable[object] = ("",), *, origin: str = "") -> None:
    """Record changes of `kind` to each of `refs` (ids; "" for the options) in the caller's transaction."""
    now = int(time.time())
    rows = [{"kind": kind, "ref": str(ref)[:64], "origin": origin, "created_at": now} for ref in refs]
    if rows:
        await conn.execute(insert(_changes), rows)


async def latest(conn: AsyncConnection) -> int:
    """The id of the newest change (0 for none)."""
    return int((await conn.execute(select(func.max(_changes.c.id)))).scalar() or 0)


async def after(conn: AsyncConnection, last: int, gaps: Sequence[int] = (), limit: int = 1000) -> list[Change]:
    """Changes after `last`, and those among `gaps` that have appeared since, oldest first."""
    condition = _changes.c.id > last
    if gaps:
        condition = or_(condition, _changes.c.id.in_(list(gaps)))
    rows = await conn.execute(select(_changes.c.id, _changes.c.kind, _changes.c.ref, _changes.c.origin)
                              .where(condition).order_by(_changes.c.id).limit(limit))
    return [Change(int(i), str(k), str(r), str(o)) for i, k, r, o in rows.all()]


async def rows_changed(conn: AsyncConnection, kind: str, ids: Iterable[int]) -> list[RowMapping]:
    """The current rows of the users, tokens or channels (`kind`) with these ids; a deleted one is simply missing."""
    table = _TABLES[kind]
    wanted = sorted(ids)
    if not wanted:
        return []
    return list((await conn.execute(select(table).where(table.c.id.in_(wanted)))).mappings().all())


async def prune(engine: AsyncEngine, before: int) -> int:
    """Delete changes recorded before `before` (unix seconds); answers how many."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(_changes).where(_changes.c.created_at < before))
    return int(result.rowcount or 0)
