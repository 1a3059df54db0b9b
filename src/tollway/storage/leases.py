"""Quota leases in the database: a process takes a slice of a user's quota or a token's remain, spends it from memory,
and gives back what it did not spend.

A subject's `leased` column is the sum of its `tollway_leases` rows; the quota column itself keeps meaning what One API
means by it (the balance, less what is spent and written). A slice is taken with a conditional UPDATE
(`quota - leased >= want`), so however many processes take at once, their slices never add up to more than the
balance. Spending a slice lowers the balance and the slice together in the keeper's flush (storage/keeper.py); giving
it back only lowers `leased`. Every transaction here locks the subject's row before any lease row, and only the owner
or whoever finds a lease expired changes a lease row, which keeps these transactions free of deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from tollway.storage import schema
from tollway.storage.database import begin_write

USER, TOKEN = "u", "t"
Key = tuple[str, int]  # (kind, subject id)
_leases = schema.leases
_SUBJECTS = {USER: (schema.users, "quota"), TOKEN: (schema.tokens, "remain_quota")}


class db_now(FunctionElement[int]):
    """The database's clock in unix seconds, so that every node judges a lease's expiry by the same clock."""

    type = BigInteger()
    inherit_cache = True


@compiles(db_now)
def _now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(strftime('%s', 'now') AS INTEGER)"


@compiles(db_now, "postgresql")
def _now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)"


@compiles(db_now, "mysql")
@compiles(db_now, "mariadb")
def _now_mysql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "UNIX_TIMESTAMP()"


def order(key: Key) -> tuple[int, int]:
    """The order in which subjects are locked: users before tokens, each by id (as the keeper's flush does)."""
    return (0 if key[0] == USER else 1, key[1])


@dataclass(frozen=True, slots=True)
class Taken:
    """What a take got, and the subject's figures as the database holds them afterwards."""

    granted: int
    figure: int  # the balance column (quota or remain_quota)
    leased: int  # every process's slices together


def _upsert(dialect: str, values: dict[str, Any]) -> Any:
    """Add to this process's lease row (made if missing) and push its expiry on."""
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(_leases).values(values)
        return stmt.on_duplicate_key_update(amount=_leases.c.amount + stmt.inserted.amount,
                                            expires_at=stmt.inserted.expires_at)
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_leases).values(values)
    return stmt.on_conflict_do_update(index_elements=["owner", "kind", "subject"],
                                      set_={"amount": _leases.c.amount + stmt.excluded.amount,
                                            "expires_at": stmt.excluded.expires_at})


async def take(conn: AsyncConnection, owner: str, node: str, key: Key, want: int, need: int, ttl: int, *,
               eager: bool = True, greedy: bool = False) -> Taken | None:
    """Lease up to `want` of a subject to `owner`: all of it while it is at most a quarter of what is free, else a
    quarter of what is free but at least `need`, or nothing when not even `need` is free (so the last calls of a
    balance are served exactly). With `eager` false only the first case applies; `greedy` takes whatever is free up
    to `want` (a call settling dearer than its hold, charged at most what is left). None: the subject is gone."""
    table, column = _SUBJECTS[key[0]]
    figure_col, leased_col = table.c[column], table.c.leased
    where = table.c.id == key[1]
    # The conditional UPDATE alone decides in the common case; it also takes the row's lock (SQLite: the write lock).
    done = await conn.execute(update(table).where(where, figure_col - leased_col >= want * 4)
                              .values(leased=leased_col + want))
    granted = want if done.rowcount == 1 else 0
    row = (await conn.execute(select(figure_col, leased_col).where(where).with_for_update())).first()
    if row is None:
        return None
    figure, leased = int(row[0] or 0), int(row[1] or 0)
    if not granted and eager:
        room = figure - leased
        fair = min(want, max(need, room // 4)) if room >= need > 0 else 0
        granted = max(0, min(want, room)) if greedy else fair
        if granted:
            await conn.execute(update(table).where(where).values(leased=leased_col + granted))
            leased += granted
    if granted:
        await conn.execute(_upsert(conn.dialect.name, {
            "owner": owner, "kind": key[0], "subject": key[1], "amount": granted,
            "expires_at": db_now() + ttl, "node": node[:191]}))
    return Taken(granted, figure, leased)


async def renew(conn: AsyncConnection, owner: str, ttl: int) -> int:
    """Push the expiry of all of `owner`'s leases on; answers how many it has."""
    result = await conn.execute(update(_leases).where(_leases.c.owner == owner)
                                .values(expires_at=db_now() + ttl))
    return int(result.rowcount or 0)


_SPEND = (update(_leases)
          .where(_leases.c.owner == bindparam("b_owner"), _leases.c.kind == bindparam("b_kind"),
                 _leases.c.subject == bindparam("b_subject"))
          .values(amount=_leases.c.amount + bindparam("b_delta")))


async def settle(conn: AsyncConnection, owner: str, deltas: Mapping[Key, int], before: Mapping[Key, int],
                 ttl: int) -> dict[Key, int] | None:
    """The keeper's part of a flush, after the subjects' rows: check `owner`'s lease rows against what this process
    believes it holds (`before` the flush), lower them by what was spent or given back, drop the empty ones and
    renew the rest. Answers what the database holds beyond `before` (a take whose commit was in doubt), or None
    when a lease is missing or short: another node reclaimed it as expired, and the flush must take its other path.
    """
    held = await held_by(conn, owner)
    if any(amount > held.get(key, 0) for key, amount in before.items() if amount > 0):
        return None
    params = [{"b_owner": owner, "b_kind": kind, "b_subject": subject, "b_delta": delta}
              for (kind, subject), delta in sorted(deltas.items(), key=lambda item: order(item[0])) if delta]
    if params:
        await conn.execute(_SPEND, params)
    await conn.execute(delete(_leases).where(_leases.c.owner == owner, _leases.c.amount <= 0))
    await renew(conn, owner, ttl)
    return {key: amount - before.get(key, 0) for key, amount in held.items() if amount > before.get(key, 0)}


async def held_by(conn: AsyncConnection, owner: str) -> dict[Key, int]:
    """`owner`'s lease rows, locked."""
    rows = await conn.execute(select(_leases.c.kind, _leases.c.subject, _leases.c.amount)
                              .where(_leases.c.owner == owner).with_for_update())
    return {(str(kind), int(subject)): int(amount) for kind, subject, amount in rows.all()}


async def lower_leased(conn: AsyncConnection, amounts: Iterable[tuple[Key, int]]) -> None:
    """Take amounts off subjects' `leased` columns, in locking order."""
    for (kind, subject), amount in sorted(amounts, key=lambda item: order(item[0])):
        if amount:
            table, _ = _SUBJECTS[kind]
            await conn.execute(update(table).where(table.c.id == subject).values(leased=table.c.leased - amount))


async def release_all(conn: AsyncConnection, owner: str) -> int:
    """Give back every lease `owner` holds (at shutdown, after its last flush); answers the quota given back."""
    held = await held_by(conn, owner)
    await lower_leased(conn, held.items())
    await conn.execute(delete(_leases).where(_leases.c.owner == owner))
    return sum(held.values())


async def reclaim_expired(conn: AsyncConnection, *, key: Key | None = None,
                          limit: int = 500) -> list[tuple[str, Key, int]]:
    """Give back leases whose owner stopped renewing them (killed, or cut off from the database for longer than the
    lease's lifetime); answers (owner, subject, amount) of each. A lease renewed meanwhile is left alone."""
    query = select(_leases.c.owner, _leases.c.kind, _leases.c.subject, _leases.c.amount).where(
        _leases.c.expires_at < db_now())
    if key is not None:
        query = query.where(_leases.c.kind == key[0], _leases.c.subject == key[1])
    found = [(str(o), (str(k), int(s)), int(a)) for o, k, s, a in (await conn.execute(query.limit(limit))).all()]
    reclaimed = []
    for owner, (kind, subject), amount in sorted(found, key=lambda item: order(item[1])):
        table, _ = _SUBJECTS[kind]
        # The subject's row first, as everywhere; then the lease only if it is still the expired one that was read.
        await conn.execute(select(table.c.id).where(table.c.id == subject).with_for_update())
        gone = await conn.execute(delete(_leases).where(
            _leases.c.owner == owner, _leases.c.kind == kind, _leases.c.subject == subject,
            _leases.c.amount == amount, _leases.c.expires_at < db_now()))
        if gone.rowcount == 1:
            await conn.execute(update(table).where(table.c.id == subject).values(leased=table.c.leased - amount))
            reclaimed.append((owner, (kind, subject), amount))
    return reclaimed


async def reclaim_all_expired(engine: AsyncEngine) -> list[tuple[str, Key, int]]:
    """`reclaim_expired` for every subject, in a write transaction of its own (the cluster's periodic job)."""
    async with begin_write(engine) as conn:
        return await reclaim_expired(conn)
