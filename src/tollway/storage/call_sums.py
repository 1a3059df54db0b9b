"""Calls summed per minute and per quarter hour, channel and requested model: AI Proxy's summaries, for monitoring.

The keeper's flush (and a journal replay) adds the consume and error logs it writes in the same transaction
(storage/charges.py), so the monitoring dashboard (`GET /api/dashboardv2/`) reads a few summary rows instead of
the log table. A quarter row also keeps its busiest minute (max RPM and TPM): after the minutes are added, the
flush reads back the minutes it touched and raises the quarters' maxima to them. Unlike the per-user roll-ups,
these sums outlive log deletion, as AI Proxy's summaries do: monitoring history is not call history. The dashboard
reads them per minute, per quarter hour, or summed into local hours or days of a zone with one UTC offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal_column, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.constants import LogType
from tollway.storage import schema

MINUTE, QUARTER = 60, 900
_minutes, _quarters = schema.call_minutes, schema.call_quarters
SUMS = schema.CALL_SUMS

Key = tuple[int, int, str]  # (span start, channel_id, model)


def count(totals: dict[Key, list[int]], row: Mapping[str, Any]) -> None:
    """Add one log row to per-minute increments (only consume and error logs of a channel count)."""
    kind = row.get("type")
    channel = row.get("channel_id") or 0
    if (kind != LogType.CONSUME and kind != LogType.ERROR) or not channel or row.get("created_at") is None:
        return
    created = int(row["created_at"])
    key = (created - created % MINUTE, int(channel), str(row.get("model_name") or ""))
    entry = totals.get(key)
    if entry is None:
        entry = totals[key] = [0] * len(SUMS)
    cached = int(row.get("cached_tokens") or 0)
    entry[0] += 1
    entry[1] += kind == LogType.ERROR
    entry[2] += int(row.get("retry_times") or 0) > 0
    entry[3] += cached > 0
    entry[4] += int(row.get("prompt_tokens") or 0)
    entry[5] += int(row.get("completion_tokens") or 0)
    entry[6] += cached
    entry[7] += int(row.get("elapsed_time") or 0)
    entry[8] += int(row.get("first_byte_time") or 0)
    entry[9] += int(row.get("quota") or 0)


def _upsert(table: Any, span: str, dialect: str) -> Any:
    """INSERT … ON CONFLICT adding to the sums (and raising the maxima of quarter rows)."""
    maxima = ("max_rpm", "max_tpm") if table is _quarters else ()
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        changes = {name: table.c[name] + stmt.inserted[name] for name in SUMS}
        changes.update({name: func.greatest(table.c[name], stmt.inserted[name]) for name in maxima})
        return stmt.on_duplicate_key_update(changes)
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    larger = func.greatest if dialect == "postgresql" else func.max  # SQLite's two-argument max() is scalar
    changes = {name: table.c[name] + stmt.excluded[name] for name in SUMS}
    changes.update({name: larger(table.c[name], stmt.excluded[name]) for name in maxima})
    return stmt.on_conflict_do_update(index_elements=[span, "channel_id", "model"], set_=changes)


_UPSERTS = {(table.name, dialect): _upsert(table, span, dialect) for table, span in ((_minutes, "minute"),
            (_quarters, "quarter")) for dialect in ("mysql", "mariadb", "postgresql", "sqlite")}


async def write(conn: AsyncConnection, minutes: Mapping[Key, list[int]]) -> None:
    """Add per-minute increments (made by `count`, for logs being inserted in this transaction) to the minute and
    quarter sums."""
    if not minutes:
        return
    dialect = conn.dialect.name
    keys = sorted(minutes)  # the same lock order on every node
    await conn.execute(_UPSERTS[(_minutes.name, dialect)],
                       [{"minute": m, "channel_id": c, "model": model, **dict(zip(SUMS, minutes[(m, c, model)],
                                                                               strict=True))}
                        for m, c, model in keys])
    # The minutes' totals as they now stand (other nodes' calls included) give the quarters' busiest minute.
    touched = {m for m, _, _ in keys}
    found = await conn.execute(select(_minutes.c.minute, _minutes.c.channel_id, _minutes.c.model,
                                      _minutes.c.request_count, _minutes.c.input_tokens, _minutes.c.output_tokens)
                               .where(_minutes.c.minute.in_(touched)))
    busiest: dict[Key, tuple[int, int]] = {}
    for minute, channel, model, count, tokens_in, tokens_out in found.all():
        if (minute, channel, model) not in minutes:
            continue
        key = (minute - minute % QUARTER, channel, model)
        rpm, tpm = busiest.get(key, (0, 0))
        busiest[key] = (max(rpm, int(count)), max(tpm, int(tokens_in) + int(tokens_out)))
    quarters: dict[Key, list[int]] = {}
    for (minute, channel, model), values in minutes.items():
        entry = quarters.setdefault((minute - minute % QUARTER, channel, model), [0] * len(SUMS))
        for index, value in enumerate(values):
            entry[index] += value
    await conn.execute(_UPSERTS[(_quarters.name, dialect)], [
        {"quarter": q, "channel_id": c, "model": model, **dict(zip(SUMS, quarters[(q, c, model)], strict=True)),
         "max_rpm": busiest.get((q, c, model), (0, 0))[0], "max_tpm": busiest.get((q, c, model), (0, 0))[1]}
        for q, c, model in sorted(quarters)])


async def prune_minutes(engine: AsyncEngine, before: int) -> int:
    """Delete minute rows older than `before` (the quarters keep their sums and maxima); answers how many."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(_minutes).where(_minutes.c.minute < before))
    return result.rowcount or 0


def _where(table: Any, column: Any, step: int, since: int | None, until: int, channel_id: int | None, model: str
           ) -> ColumnElement[bool]:
    where = [column <= until]
    if since is not None:
        where.append(column >= since - since % step)  # the span `since` falls in counts whole
    if channel_id is not None:
        where.append(table.c.channel_id == channel_id)
    if model:
        where.append(table.c.model == model)
    return and_(*where)


async def minute_sums(engine: AsyncEngine, since: int | None, until: int, channel_id: int | None = None,
                      model: str = "") -> list[Sequence[Any]]:
    """(minute, channel_id, model, *SUMS) of the minutes from `since` to `until` (unix seconds)."""
    query = select(_minutes.c.minute, _minutes.c.channel_id, _minutes.c.model, *(_minutes.c[n] for n in SUMS)).where(
        _where(_minutes, _minutes.c.minute, MINUTE, since, until, channel_id, model))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def quarter_sums(engine: AsyncEngine, since: int | None, until: int, channel_id: int | None = None,
                       model: str = "") -> list[Sequence[Any]]:
    """(quarter, channel_id, model, *SUMS, max_rpm, max_tpm) of the quarter hours from `since` to `until`."""
    query = select(_quarters.c.quarter, _quarters.c.channel_id, _quarters.c.model, *(_quarters.c[n] for n in SUMS),
                   _quarters.c.max_rpm, _quarters.c.max_tpm).where(
        _where(_quarters, _quarters.c.quarter, QUARTER, since, until, channel_id, model))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def local_span_sums(engine: AsyncEngine, offset: int, width: int, since: int | None, until: int,
                          channel_id: int | None = None, model: str = "") -> list[Sequence[Any]]:
    """Like `quarter_sums`, summed by the database into spans of `width` seconds that start on local boundaries
    of a zone `offset` seconds from UTC (its hours or days); the maxima are the spans' busiest quarter's."""
    quarter = _quarters.c.quarter
    local = quarter - (quarter + literal_column(str(offset))) % literal_column(str(width))
    query = (select(local, _quarters.c.channel_id, _quarters.c.model, *(func.sum(_quarters.c[n]) for n in SUMS),
                    func.max(_quarters.c.max_rpm), func.max(_quarters.c.max_tpm))
             .where(_where(_quarters, quarter, QUARTER, since, until, channel_id, model))
             .group_by(local, _quarters.c.channel_id, _quarters.c.model))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())
