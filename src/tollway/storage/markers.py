"""Turns of cluster-wide jobs in `tollway_markers`: whichever process claims a turn first runs it, the others skip.

A job's row (`job:<name>`) holds when its last turn was claimed, on the database's clock. A claim is one
conditional UPDATE (`last turn older than the interval`), so of any number of processes on any number of nodes
exactly one wins each turn.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import schema
from tollway.storage.leases import db_now

_markers = schema.markers


async def claim(engine: AsyncEngine, job: str, interval_s: float) -> bool:
    """Whether this process runs `job`'s turn now: its last turn (anywhere) is at least `interval_s` ago.

    The first look at a job that never ran starts its clock instead, so a job first runs one interval after the
    cluster first started (as a single node's periodic jobs always did).
    """
    name = f"job:{job}"
    async with engine.begin() as conn:
        taken = await conn.execute(update(_markers).where(_markers.c.name == name,
                                                          _markers.c.version <= db_now() - int(interval_s))
                                   .values(version=db_now()))
        if taken.rowcount == 1:
            return True
        if (await conn.execute(select(_markers.c.name).where(_markers.c.name == name))).first() is not None:
            return False
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(_markers).values(name=name, version=db_now()))
    except IntegrityError:
        pass  # another process started the clock at the same moment
    return False
