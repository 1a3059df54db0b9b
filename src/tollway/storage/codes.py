"""The `codes` table behind single-use secrets when there is no Redis (accounts/codes.py): digests only."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import schema

codes = schema.codes


async def replace_code(engine: AsyncEngine, purpose: str, subject: str, digest: str, bound: str, *, now: int,
                       expires_at: int) -> None:
    """Store a digest for (purpose, subject), replacing any earlier one, and delete every expired entry."""
    async with engine.begin() as conn:
        # Expired entries of any subject go too, so the table stays as small as the codes in use.
        await conn.execute(delete(codes).where(codes.c.expires_at < now))
        await conn.execute(delete(codes).where(codes.c.purpose == purpose, codes.c.subject == subject))
        await conn.execute(insert(codes).values(purpose=purpose, subject=subject, digest=digest, bound=bound,
                                                attempts=0, expires_at=expires_at))


async def take_code(engine: AsyncEngine, purpose: str, subject: str, digest: str, bound: str, *, now: int,
                    max_attempts: int) -> bool:
    """Delete the matching unexpired entry and answer True; else spend an attempt (the last one deletes it)."""
    match = and_(codes.c.purpose == purpose, codes.c.subject == subject)
    async with engine.begin() as conn:
        # A conditional DELETE is atomic on every backend: of two racing takes, one deletes the row.
        taken = await conn.execute(delete(codes).where(
            match, codes.c.digest == digest, codes.c.bound == bound, codes.c.expires_at >= now))
        if taken.rowcount == 1:
            return True
        await conn.execute(update(codes).where(match).values(attempts=codes.c.attempts + 1))
        await conn.execute(delete(codes).where(match, codes.c.attempts >= max_attempts))
    return False
