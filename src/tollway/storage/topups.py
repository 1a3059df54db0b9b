"""A user's recent top-up log entries (the console's top-up page)."""

from __future__ import annotations

from sqlalchemy import desc, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.constants import LogType
from tollway.storage import schema
from tollway.storage.cache import Row

logs = schema.logs


async def recent_topups(log_engine: AsyncEngine, user_id: int, limit: int) -> list[Row]:
    """The user's newest top-up logs (redeemed codes and admins' top-ups)."""
    query = (select(logs).where(logs.c.user_id == user_id, logs.c.type == LogType.TOPUP).order_by(desc(logs.c.id))
             .limit(limit))
    async with log_engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())
