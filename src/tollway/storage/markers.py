"""Change counters in `tollway_markers`: a write bumps one in its own transaction, other nodes poll it cheaply."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.storage import schema

OPTIONS = "options"
_markers = schema.markers


async def bump(conn: AsyncConnection, name: str) -> None:
    """Count one more change of `name` (call inside the transaction that makes the change)."""
    result = await conn.execute(update(_markers).where(_markers.c.name == name)
                                .values(version=_markers.c.version + 1))
    if not result.rowcount:
        # Migrations seed the row; a database that lost it gets it back here.
        await conn.execute(insert(_markers).values(name=name, version=1))


async def version(conn: AsyncConnection, name: str) -> int:
    """The current count of `name` (0 when it never changed)."""
    found = await conn.execute(select(_markers.c.version).where(_markers.c.name == name))
    value = found.scalar_one_or_none()
    return int(value or 0)
