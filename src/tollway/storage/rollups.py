"""Consume logs summed per user, UTC day and model (`log_rollups`), kept exactly in step with the `logs` table.

Every write of consume logs adds its sums in the same transaction (the keeper's flush, a spill replay), and
every deletion of logs takes the deleted rows' sums away in the same transaction (storage/log_deletion.py),
so dashboards read a few hundred summary rows instead of scanning millions of logs. Rows with user_id
EVERYONE (-1) hold the sums over all users, so the admin-wide dashboard stays as small as one user's.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Select, and_, bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.constants import LogType
from tollway.storage import schema

DAY = 86400
EVERYONE = -1  # the user_id of the rows that sum every user
_logs, _rollups = schema.logs, schema.log_rollups
_SUMS = ("request_count", "quota", "prompt_tokens", "completion_tokens")

Key = tuple[int, int, str]  # (user_id, day, model_name)


def day_of(timestamp: int) -> int:
    """The unix time of 00:00 UTC on the day of `timestamp`."""
    return timestamp - timestamp % DAY


def recent_days(count: int) -> tuple[int, int]:
    """The first and last day of the `count` days ending today (UTC), as One API's GetUserDashboard counts."""
    today = day_of(int(time.time()))
    return today - (count - 1) * DAY, today


def day_label(day: int) -> str:
    """`YYYY-MM-DD` of a day, as One API's dashboard names days."""
    return datetime.datetime.fromtimestamp(day, datetime.UTC).strftime("%Y-%m-%d")


def _accumulate(totals: dict[Key, list[int]], key: Key, values: Sequence[int]) -> None:
    for user in (key[0], EVERYONE):
        entry = totals.setdefault((user, key[1], key[2]), [0, 0, 0, 0])
        for index, value in enumerate(values):
            entry[index] += value


def count(totals: dict[Key, list[int]], row: Mapping[str, Any]) -> None:
    """Add one log row to per-user roll-up increments (only consume logs count)."""
    created = row.get("created_at")
    if row.get("type") != LogType.CONSUME or created is None:
        return
    key = (int(row.get("user_id") or 0), day_of(int(created)), str(row.get("model_name") or ""))
    entry = totals.get(key)
    if entry is None:
        entry = totals[key] = [0, 0, 0, 0]
    entry[0] += 1
    entry[1] += int(row.get("quota") or 0)
    entry[2] += int(row.get("prompt_tokens") or 0)
    entry[3] += int(row.get("completion_tokens") or 0)


def with_everyone(totals: Mapping[Key, Sequence[int]]) -> dict[Key, list[int]]:
    """Per-user increments and, summed from them (far fewer than the logs), the rows for everyone."""
    result: dict[Key, list[int]] = {}
    for key, values in totals.items():
        _accumulate(result, key, values)
    return result


def sums(rows: Iterable[Mapping[str, Any]]) -> dict[Key, list[int]]:
    """The roll-up increments of some log rows (only consume logs count), per user and for everyone."""
    totals: dict[Key, list[int]] = {}
    for row in rows:
        count(totals, row)
    return with_everyone(totals)


def _build_upsert(dialect: str) -> Any:
    if dialect == "mysql":
        stmt = mysql.insert(_rollups)
        return stmt.on_duplicate_key_update({name: _rollups.c[name] + stmt.inserted[name] for name in _SUMS})
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_rollups)
    return stmt.on_conflict_do_update(index_elements=["user_id", "day", "model_name"],
                                      set_={name: _rollups.c[name] + stmt.excluded[name] for name in _SUMS})


# INSERT … ON CONFLICT adding to the existing sums, per dialect; one statement run for many rows, compiled once.
_UPSERTS = {name: _build_upsert(name) for name in ("mysql", "postgresql", "sqlite")}
_UPSERTS["mariadb"] = _UPSERTS["mysql"]

_SUBTRACT = (
    update(_rollups)
    .where(_rollups.c.user_id == bindparam("b_user"), _rollups.c.day == bindparam("b_day"),
           _rollups.c.model_name == bindparam("b_model"))
    .values(request_count=_rollups.c.request_count - bindparam("b_count"),
            quota=_rollups.c.quota - bindparam("b_quota"),
            prompt_tokens=_rollups.c.prompt_tokens - bindparam("b_prompt"),
            completion_tokens=_rollups.c.completion_tokens - bindparam("b_completion"))
)
_DROP_EMPTY = delete(_rollups).where(_rollups.c.user_id == bindparam("b_user"), _rollups.c.day == bindparam("b_day"),
                                     _rollups.c.model_name == bindparam("b_model"), _rollups.c.request_count <= 0)


async def add(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add the consume logs among `rows` (being inserted in this transaction) to the roll-ups."""
    await write(conn, sums(rows))


async def write(conn: AsyncConnection, totals: Mapping[Key, list[int]]) -> None:
    """Add increments made by `sums` or `with_everyone` to the roll-ups, in this transaction."""
    if not totals:
        return
    # Sorted so that two nodes flushing at once lock the same rows in the same order (no deadlock).
    values = [{"user_id": u, "day": d, "model_name": m, "request_count": n, "quota": q, "prompt_tokens": p,
               "completion_tokens": c} for (u, d, m), (n, q, p, c) in sorted(totals.items())]
    await conn.execute(_UPSERTS[conn.dialect.name], values)


def _keys() -> tuple[Any, Any, Any]:
    # Literal SQL rather than bound values: PostgreSQL matches GROUP BY expressions to the selected ones only when
    # they are written the same, and two bound parameters never are.
    return (func.coalesce(_logs.c.user_id, literal_column("0")),
            _logs.c.created_at - _logs.c.created_at % literal_column(str(DAY)),
            func.coalesce(_logs.c.model_name, literal_column("''")))


def grouped(where: Any, *, everyone: bool = False) -> Select[Any]:
    """Consume logs matching `where`, summed per user (or for EVERYONE), day and model."""
    user, day, model = _keys()
    zero: Any = literal_column("0")
    keys = (day, model) if everyone else (user, day, model)
    return (select((literal_column(str(EVERYONE)) if everyone else user).label("user_id"), day.label("day"),
                   model.label("model_name"), func.count().label("request_count"),
                   func.coalesce(func.sum(_logs.c.quota), zero).label("quota"),
                   func.coalesce(func.sum(_logs.c.prompt_tokens), zero).label("prompt_tokens"),
                   func.coalesce(func.sum(_logs.c.completion_tokens), zero).label("completion_tokens"))
            .where(and_(_logs.c.type == int(LogType.CONSUME), _logs.c.created_at.is_not(None), where))
            .group_by(*keys))


async def subtract(conn: AsyncConnection, where: Any) -> None:
    """Take the consume logs matching `where` (about to be deleted in this transaction) out of the roll-ups."""
    totals: dict[Key, list[int]] = {}
    for r in (await conn.execute(grouped(where))).mappings().all():
        _accumulate(totals, (int(r["user_id"]), int(r["day"]), str(r["model_name"])),
                    [int(r[name]) for name in _SUMS])
    if not totals:
        return
    keys = sorted(totals)
    await conn.execute(_SUBTRACT, [
        {"b_user": u, "b_day": d, "b_model": m, "b_count": totals[(u, d, m)][0], "b_quota": totals[(u, d, m)][1],
         "b_prompt": totals[(u, d, m)][2], "b_completion": totals[(u, d, m)][3]} for u, d, m in keys])
    await conn.execute(_DROP_EMPTY, [{"b_user": u, "b_day": d, "b_model": m} for u, d, m in keys])


def backfill() -> list[Insert]:
    """Sum every consume log into the (empty) roll-up table, per user and for everyone (a migration's job)."""
    columns = ["user_id", "day", "model_name", *_SUMS]
    return [insert(_rollups).from_select(columns, grouped(True)),
            insert(_rollups).from_select(columns, grouped(True, everyone=True))]
