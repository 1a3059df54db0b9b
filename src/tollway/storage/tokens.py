"""Reading relay tokens: one's own by id, pages and names of one's own (API and console), and a key's token.

Writes go through storage/writes.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, desc, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import schema
from tollway.storage.cache import Row
from tollway.storage.keywords import like_prefix

tokens = schema.tokens

# The sort keys of One API's token list (unlimited tokens count as the most remaining); any other is newest first.
ORDERS: dict[str, tuple[Any, ...]] = {
    "remain_quota": (desc(tokens.c.unlimited_quota), desc(tokens.c.remain_quota)),
    "used_quota": (desc(tokens.c.used_quota),),
}


async def own_token(engine: AsyncEngine, user_id: int, token_id: int) -> Row | None:
    """The token with this id if `user_id` owns it."""
    async with engine.connect() as conn:
        return (await conn.execute(select(tokens).where(tokens.c.id == token_id, tokens.c.user_id == user_id))
                ).mappings().first()


def _matching(user_id: int, name_prefix: str | None) -> list[ColumnElement[bool]]:
    where = [tokens.c.user_id == user_id]
    if name_prefix is not None:
        where.append(tokens.c.name.like(like_prefix(name_prefix), escape="\\"))
    return where


async def count_own_tokens(engine: AsyncEngine, user_id: int, name_prefix: str | None = None) -> int:
    """How many tokens `own_tokens` pages through."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(tokens)
                                       .where(*_matching(user_id, name_prefix)))).scalar_one())


async def own_tokens(engine: AsyncEngine, user_id: int, name_prefix: str | None = None, *, order: str = "",
                     offset: int = 0, limit: int) -> list[Row]:
    """A page of the user's tokens (those whose name starts with `name_prefix`), by `order` then newest first."""
    query = (select(tokens).where(*_matching(user_id, name_prefix))
             .order_by(*ORDERS.get(order, ()), desc(tokens.c.id)).offset(offset).limit(limit))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def own_token_names(engine: AsyncEngine, user_id: int) -> list[str]:
    """The distinct names of a user's tokens, sorted (the console's log filter offers them)."""
    async with engine.connect() as conn:
        names = (await conn.execute(select(tokens.c.name).where(tokens.c.user_id == user_id))).scalars().all()
    return sorted(set(names))


async def token_and_owner(engine: AsyncEngine, key: str) -> tuple[Row, Row] | None:
    """The token with this key and the user who owns it, if both exist (the relay's look-up of an unknown key)."""
    async with engine.connect() as conn:
        token = (await conn.execute(select(tokens).where(tokens.c.key == key))).mappings().first()
        if token is None:
            return None
        owner = (await conn.execute(select(schema.users).where(schema.users.c.id == token["user_id"]))
                 ).mappings().first()
    return None if owner is None else (token, owner)
