"""Redemption codes: reading them by id and in pages, and the admin's writes (codes are not cached).

Redeeming a code, and enabling or disabling one, are in storage/writes.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, desc, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.constants import RedemptionStatus
from tollway.storage import schema
from tollway.storage.cache import Row
from tollway.storage.keywords import keyword_number, like_prefix

codes = schema.redemptions


async def code_by_id(engine: AsyncEngine, code_id: int) -> Row | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(codes).where(codes.c.id == code_id))).mappings().first()


def _matching(keyword: str | None, status: int | None) -> ColumnElement[bool]:
    """With a keyword, that id or a name starting with it; with a status, only codes in it."""
    match: ColumnElement[bool] = true()
    if keyword is not None:
        match = codes.c.name.like(like_prefix(keyword), escape="\\")
        number = keyword_number(keyword)
        if number is not None:
            match = or_(codes.c.id == number, match)
    if status is not None:
        match = match & (codes.c.status == status)
    return match


async def count_codes(engine: AsyncEngine, keyword: str | None = None, status: int | None = None) -> int:
    """How many codes `find_codes` pages through."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(codes).where(_matching(keyword, status))))
                   .scalar_one())


async def find_codes(engine: AsyncEngine, keyword: str | None = None, status: int | None = None, *,
                     offset: int = 0, limit: int) -> list[Row]:
    """A page of codes matching the keyword (None: all) and status (None: any), newest first."""
    query = select(codes).where(_matching(keyword, status)).order_by(desc(codes.c.id)).offset(offset).limit(limit)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def insert_codes(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    """Insert a batch of codes: all of it or none of it."""
    async with engine.begin() as conn:
        await conn.execute(insert(codes), rows)


async def update_unused_code(engine: AsyncEngine, code_id: int, values: dict[str, Any]) -> bool:
    """Change a code that is not redeemed yet; answers whether it changed."""
    async with engine.begin() as conn:
        result = await conn.execute(update(codes).where(codes.c.id == code_id,
                                                        codes.c.status != RedemptionStatus.USED).values(**values))
    return bool(result.rowcount)


async def delete_code(engine: AsyncEngine, code_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(codes).where(codes.c.id == code_id))
