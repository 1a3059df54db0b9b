"""Reading channels for the management API and the console: a page, a search, one by id, the disabled ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, desc, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.constants import ChannelStatus
from tollway.storage import schema
from tollway.storage.cache import Row
from tollway.storage.keywords import keyword_number, like_prefix

_channels = schema.channels


@dataclass(frozen=True)
class ChannelFilter:
    """Which channels a list holds: those whose name starts with `keyword` or, when it is a number, whose id it is
    (the API's search), and of the given statuses; an empty field matches every channel."""

    keyword: str | None = None
    statuses: tuple[int, ...] = ()


def _where(found: ChannelFilter) -> ColumnElement[bool] | None:
    match: ColumnElement[bool] | None = None
    if found.keyword is not None:
        match = _channels.c.name.like(like_prefix(found.keyword), escape="\\")
        number = keyword_number(found.keyword)
        if number is not None:
            match = or_(_channels.c.id == number, match)
    if found.statuses:
        in_status = _channels.c.status.in_([int(status) for status in found.statuses])
        match = in_status if match is None else match & in_status
    return match


def _filtered(query: Select[Any], found: ChannelFilter) -> Select[Any]:
    where = _where(found)
    return query if where is None else query.where(where)


async def channel_page(engine: AsyncEngine, offset: int, limit: int, found: ChannelFilter = ChannelFilter()
                       ) -> list[Row]:
    """The channels matching `found`, highest priority first (newest first within one), one page of them."""
    query = _filtered(select(_channels), found).order_by(desc(_channels.c.priority), desc(_channels.c.id))
    async with engine.connect() as conn:
        return list((await conn.execute(query.offset(offset).limit(limit))).mappings().all())


async def channel_count(engine: AsyncEngine, found: ChannelFilter = ChannelFilter()) -> int:
    """How many channels match `found`."""
    query = _filtered(select(func.count()).select_from(_channels), found)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def newest_channels(engine: AsyncEngine, found: ChannelFilter, limit: int) -> list[Row]:
    """At most `limit` channels matching `found`, newest first (the API's search)."""
    query = _filtered(select(_channels), found).order_by(desc(_channels.c.id)).limit(limit)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def all_channels(engine: AsyncEngine) -> list[Row]:
    """Every channel, oldest first."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(_channels).order_by(_channels.c.id))).mappings().all())


async def channel_by_id(engine: AsyncEngine, channel_id: int) -> Row | None:
    """The stored channel with this id, or None."""
    async with engine.connect() as conn:
        return (await conn.execute(select(_channels).where(_channels.c.id == channel_id))).mappings().first()


async def disabled_channel_ids(engine: AsyncEngine) -> list[int]:
    """The ids of every channel disabled by an operator or automatically."""
    disabled = [int(ChannelStatus.DISABLED), int(ChannelStatus.AUTO_DISABLED)]
    async with engine.connect() as conn:
        return list((await conn.execute(select(_channels.c.id).where(_channels.c.status.in_(disabled)))).scalars())
