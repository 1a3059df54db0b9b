"""The `tollway_sessions` rows behind signed-in browsers (accounts/sessions.py keeps them in memory).

Sessions are named by the digest of their id; ending one records the change for other processes.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import changes, schema

table = schema.sessions


async def drop_expired_and_list(engine: AsyncEngine, now: int) -> dict[str, tuple[int, int]]:
    """Delete sessions expired by `now`; answers the others as {digest: (user id, expires at)}."""
    async with engine.begin() as conn:
        await conn.execute(delete(table).where(table.c.expires_at < now))
        rows = (await conn.execute(select(table.c.id, table.c.user_id, table.c.expires_at))).all()
    return {row.id: (row.user_id, row.expires_at) for row in rows}


async def insert_session(engine: AsyncEngine, key: str, user_id: int, created_at: int, expires_at: int,
                         ip: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(table).values(id=key, user_id=user_id, created_at=created_at,
                                                expires_at=expires_at, ip=ip))


async def session_owner(engine: AsyncEngine, key: str) -> tuple[int, int] | None:
    """(user id, expires at) of the session with this digest, if it is open."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(table.c.user_id, table.c.expires_at).where(table.c.id == key))).first()
    return None if row is None else (row.user_id, row.expires_at)


async def delete_session(engine: AsyncEngine, key: str) -> None:
    """End one session, recording the change for other processes."""
    async with engine.begin() as conn:
        await changes.record(conn, changes.SESSION, [key])
        await conn.execute(delete(table).where(table.c.id == key))


async def delete_user_sessions(engine: AsyncEngine, user_id: int, *, keep: str = "") -> None:
    """End every session of a user but `keep`, recording the change for other processes."""
    async with engine.begin() as conn:
        await changes.record(conn, changes.SESSION, [f"user:{user_id}"])
        await conn.execute(delete(table).where(table.c.user_id == user_id, table.c.id != keep))


async def user_session_keys(engine: AsyncEngine, user_id: int) -> set[str]:
    """The digests of the user's open sessions."""
    async with engine.connect() as conn:
        return {row.id for row in await conn.execute(select(table.c.id).where(table.c.user_id == user_id))}
