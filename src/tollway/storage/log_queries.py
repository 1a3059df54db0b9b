"""Reading logs for the management API, the console and AI Proxy's routes: pages, quota sums, one log with its kept
bodies, and usage per day and model from the roll-ups (storage/rollups.py), never from the logs themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, desc, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.constants import LogType
from tollway.storage import log_details, schema
from tollway.storage.cache import Row
from tollway.storage.keywords import keyword_number, like_prefix

_logs, _rollups = schema.logs, schema.log_rollups


@dataclass(frozen=True)
class LogFilter:
    """Which logs a page or a sum covers; an empty field matches every log. Times are unix seconds, inclusive."""

    types: tuple[int, ...] = ()
    since: int | None = None
    until: int | None = None
    user_id: int | None = None
    username: str = ""
    token_name: str = ""
    model_name: str = ""
    channel_id: int | None = None
    code: int | None = None
    request_id: str = ""
    ip: str = ""


def _where(found: LogFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if len(found.types) == 1:
        where.append(_logs.c.type == int(found.types[0]))
    elif found.types:
        where.append(_logs.c.type.in_([int(kind) for kind in found.types]))
    if found.since is not None:
        where.append(_logs.c.created_at >= found.since)
    if found.until is not None:
        where.append(_logs.c.created_at <= found.until)
    if found.user_id is not None:
        where.append(_logs.c.user_id == found.user_id)
    for column, value in ((_logs.c.username, found.username), (_logs.c.token_name, found.token_name),
                          (_logs.c.model_name, found.model_name)):
        if value:
            where.append(column == value)
    if found.channel_id is not None:
        where.append(_logs.c.channel_id == found.channel_id)
    if found.code is not None:
        where.append(_logs.c.code == found.code)
    for column, value in ((_logs.c.request_id, found.request_id), (_logs.c.ip, found.ip)):
        if value:
            where.append(column == value)
    return where


def _page(where: list[ColumnElement[bool]], offset: int, limit: int) -> Select[Any]:
    # Newest first; each equality filter has an index that yields its rows in id order (storage/schema.py).
    return select(_logs).where(and_(True, *where)).order_by(desc(_logs.c.id)).offset(offset).limit(limit)


def log_page_query(found: LogFilter, offset: int, limit: int) -> Select[Any]:
    """The query of `log_page`, for a look at its plan."""
    return _page(_where(found), offset, limit)


async def log_page(engine: AsyncEngine, found: LogFilter, offset: int, limit: int) -> list[Row]:
    """One page of the logs matching `found`, newest first."""
    async with engine.connect() as conn:
        return list((await conn.execute(log_page_query(found, offset, limit))).mappings().all())


async def counted_log_page(engine: AsyncEngine, found: LogFilter, offset: int, limit: int
                           ) -> tuple[list[Row], int]:
    """One page of the logs matching `found`, newest first, and how many match in all."""
    where = _where(found)
    async with engine.connect() as conn:
        rows = (await conn.execute(_page(where, offset, limit))).mappings().all()
        total = (await conn.execute(select(func.count()).select_from(_logs).where(and_(True, *where)))).scalar_one()
    return list(rows), int(total)


async def matching_logs(engine: AsyncEngine, keyword: str, limit: int) -> list[Row]:
    """The newest logs whose content starts with `keyword` or, when it is a number, whose type it is."""
    match: ColumnElement[bool] = _logs.c.content.like(like_prefix(keyword), escape="\\")
    kind = keyword_number(keyword)
    if kind is not None:
        match = or_(_logs.c.type == kind, match)
    async with engine.connect() as conn:
        return list((await conn.execute(_page([match], 0, limit))).mappings().all())


async def consume_quota_sum(engine: AsyncEngine, found: LogFilter) -> int:
    """The quota of the consume logs matching `found`."""
    query = select(func.coalesce(func.sum(_logs.c.quota), 0)).where(
        and_(_logs.c.type == int(LogType.CONSUME), *_where(found)))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def log_with_bodies(engine: AsyncEngine, log_id: int) -> tuple[Row | None, dict[str, Any] | None]:
    """A log and the request and response bodies kept with it (None for either that is not there)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(_logs).where(_logs.c.id == log_id))).mappings().first()
        bodies = await log_details.read(conn, log_id) if row is not None else None
    return row, bodies


async def kept_bodies(engine: AsyncEngine, log_id: int) -> dict[str, Any] | None:
    """The request and response bodies kept with a log, or None."""
    async with engine.connect() as conn:
        return await log_details.read(conn, log_id)


@dataclass(frozen=True)
class ModelDay:
    """The consume logs of one UTC day and model, summed (from the roll-ups)."""

    day: int
    model_name: str
    request_count: int
    quota: int
    prompt_tokens: int
    completion_tokens: int


async def daily_usage(engine: AsyncEngine, user_id: int, first_day: int | None = None, last_day: int | None = None,
                      model_name: str = "") -> list[ModelDay]:
    """A user's (or with rollups.EVERYONE everyone's) usage per day and model, by day and model name."""
    where = [_rollups.c.user_id == user_id]
    if first_day is not None:
        where.append(_rollups.c.day >= first_day)
    if last_day is not None:
        where.append(_rollups.c.day <= last_day)
    if model_name:
        where.append(_rollups.c.model_name == model_name)
    query = (select(_rollups.c.day, _rollups.c.model_name,
                    func.sum(_rollups.c.request_count).label("request_count"),
                    func.sum(_rollups.c.quota).label("quota"),
                    func.sum(_rollups.c.prompt_tokens).label("prompt_tokens"),
                    func.sum(_rollups.c.completion_tokens).label("completion_tokens"))
             .where(*where).group_by(_rollups.c.day, _rollups.c.model_name)
             .order_by(_rollups.c.day, _rollups.c.model_name))
    async with engine.connect() as conn:
        found = (await conn.execute(query)).mappings().all()
    return [ModelDay(int(row["day"]), row["model_name"], int(row["request_count"]), int(row["quota"]),
                     int(row["prompt_tokens"]), int(row["completion_tokens"])) for row in found]
