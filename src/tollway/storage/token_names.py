"""The names of a user's relay tokens (the console's log filter offers them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import schema

_tokens = schema.tokens


async def token_names_of(engine: AsyncEngine, user_id: int) -> list[str]:
    """The distinct names of a user's tokens, sorted."""
    async with engine.connect() as conn:
        names = (await conn.execute(select(_tokens.c.name).where(_tokens.c.user_id == user_id))).scalars().all()
    return sorted(set(names))
