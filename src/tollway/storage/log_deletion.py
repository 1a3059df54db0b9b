"""Deleting old logs in batches by id range, each batch with its roll-up sums in one short transaction.

A single `DELETE … WHERE created_at < ?` over millions of rows would hold the log table (and on SQLite the
whole database) for seconds, so the keeper's flushes would wait and relay calls would queue up behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import rollups, schema

_logs = schema.logs
BATCH = 1000


async def delete_before(engine: AsyncEngine, cutoff: int, *, batch: int = BATCH, pause: float = 0.0,
                        going: Callable[[], bool] = lambda: True) -> int:
    """Delete every log created before `cutoff` (unix seconds); answers how many were deleted.

    Each transaction covers at most `batch` ids and sleeps `pause` seconds after it, so other writers get in;
    it stops early, between batches, once `going()` is false. Logs written later with an older `created_at`
    (a replayed spill) are left for the next run.
    """
    old = _logs.c.created_at < cutoff
    async with engine.connect() as conn:
        low, high = (await conn.execute(select(func.min(_logs.c.id), func.max(_logs.c.id)).where(old))).one()
    deleted = 0
    start = low
    while start is not None and start <= high and going():
        stop = start + batch
        where = and_(_logs.c.id >= start, _logs.c.id < stop, old)
        async with engine.begin() as conn:
            await rollups.subtract(conn, where)
            result = await conn.execute(delete(_logs).where(where))
            deleted += result.rowcount or 0
            # The next old id, so gaps left by earlier deletions cost one query, not one empty batch each.
            following = select(func.min(_logs.c.id)).where(_logs.c.id >= stop, _logs.c.id <= high, old)
            start = (await conn.execute(following)).scalar()
        if pause and start is not None:
            await asyncio.sleep(pause)
    return deleted
