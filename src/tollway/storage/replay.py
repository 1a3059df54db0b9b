"""Writing charges from journal records: a stopped process's journal, or a flush whose lease was reclaimed.

A stopped process's charges come out of its own leases first: the leases were taken for exactly those calls, so the
balance is charged the same as if the process had flushed. Whatever its leases no longer cover (another node gave
them back after they expired, before this replay) is charged to what is free of the balance, and a charge that
finds too little is capped there, with its log saying so: a replay never takes a user or a token below zero and
never bills a call twice (the journal's mark, storage/journal.py). With `release` the process's remaining leases
are given back in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import charges, journal, leases, schema
from tollway.storage.charges import Batch
from tollway.storage.database import begin_write
from tollway.storage.journal import Record
from tollway.storage.leases import TOKEN, USER, Key

log = logging.getLogger(__name__)
_leases = schema.leases
_COLUMNS = {USER: (schema.users, "quota"), TOKEN: (schema.tokens, "remain_quota")}


@dataclass
class Applied:
    """What `apply` wrote: log rows by sequence number (capped ones adjusted), and the subjects' figures after it."""

    logs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    figures: dict[Key, tuple[int, int]] = field(default_factory=dict)  # (balance, leased)
    left: dict[Key, int] = field(default_factory=dict)  # the owner's leases afterwards
    capped: int = 0  # quota the balances could not cover


async def _lock_subjects(conn: AsyncConnection, keys: set[Key]) -> dict[Key, tuple[int, int]]:
    figures = {}
    for key in sorted(keys, key=leases.order):
        table, column = _COLUMNS[key[0]]
        row = (await conn.execute(select(table.c[column], table.c.leased).where(table.c.id == key[1])
                                  .with_for_update())).first()
        if row is not None:
            figures[key] = (int(row[0] or 0), int(row[1] or 0))
    return figures


async def apply(conn: AsyncConnection, owner: str, records: Sequence[Record], *, release: bool) -> Applied:
    """Write the records' charges (not their logs) in `conn`, spending `owner`'s leases first; see the module."""
    charged = [record for record in records if record.user_id != journal.NO_CHARGE]
    peek = await conn.execute(select(_leases.c.kind, _leases.c.subject).where(_leases.c.owner == owner))
    keys = {(str(kind), int(subject)) for kind, subject in peek.all()}
    keys |= {(USER, r.user_id) for r in charged} | {(TOKEN, r.token_id) for r in charged if r.token_limited}
    figures = await _lock_subjects(conn, keys)  # the subjects' rows before any lease row, as everywhere
    left = await leases.held_by(conn, owner)
    free = {key: max(0, figure - leased) for key, (figure, leased) in figures.items()}
    lowered: dict[Key, int] = {}  # what comes off `leased`
    spent: dict[Key, int] = {}
    batch, applied = Batch(), Applied()
    for record in records:
        if record.user_id == journal.NO_CHARGE:
            if record.log_row is not None:
                applied.logs.append((record.seq, record.log_row))
            continue
        subjects = [(USER, record.user_id)] + ([(TOKEN, record.token_id)] if record.token_limited else [])
        cost = record.charged
        for key in subjects:
            if key in figures:  # a deleted row has nothing to cap against (and nothing to charge)
                cost = min(cost, left.get(key, 0) + free[key])
        cost = max(0, cost)
        for key in subjects:
            if key in figures:
                from_lease = min(cost, left.get(key, 0))
                left[key] = left.get(key, 0) - from_lease
                free[key] -= cost - from_lease
                lowered[key] = lowered.get(key, 0) + from_lease
                spent[key] = spent.get(key, 0) + cost
        batch.charge(record, cost)
        if cost < record.charged:
            applied.capped += record.charged - cost
        if record.log_row is not None:
            row = record.log_row
            if cost < record.charged:
                row = {**row, "quota": cost, "content": f"{row.get('content') or ''}; {record.charged - cost} quota "
                                                       "over the balance not charged (written after a restart)"}
            applied.logs.append((record.seq, row))
    if release:
        for key, amount in left.items():
            lowered[key] = lowered.get(key, 0) + amount
        left = {}
    for (kind, subject), amount in lowered.items():
        sums = batch.users.setdefault(subject, [0, 0, 0, 0]) if kind == USER else batch.tokens.setdefault(
            subject, [0, 0, 0])
        sums[-1] -= amount
    await charges.write_quota(conn, batch)
    if release:
        await conn.execute(delete(_leases).where(_leases.c.owner == owner))
    else:
        for (kind, subject), amount in left.items():
            await conn.execute(update(_leases).where(_leases.c.owner == owner, _leases.c.kind == kind,
                                                     _leases.c.subject == subject).values(amount=amount))
        await conn.execute(delete(_leases).where(_leases.c.owner == owner, _leases.c.amount <= 0))
    for key, (figure, leased) in figures.items():
        applied.figures[key] = (figure - spent.get(key, 0), leased - lowered.get(key, 0))
    applied.left = {key: amount for key, amount in left.items() if amount > 0}
    return applied


async def replay_orphans(engine: AsyncEngine, log_engine: AsyncEngine, directory: Any) -> int:
    """Write what stopped processes left in their journals in `directory` and give back their leases, once each;
    answers how many journals were replayed. Segments a live process (or a sibling replaying them) holds are left."""
    replayed = 0
    for orphan in journal.claim_orphans(directory):
        try:
            await _replay(engine, log_engine, orphan)
        except BaseException:
            orphan.release(delete=False)
            raise
        orphan.release(delete=True)
        replayed += 1
        # Once its files are gone a journal can never be replayed again, so its marks are no longer needed.
        for target in {engine, log_engine}:
            async with target.begin() as conn:
                await charges.drop_mark(conn, journal.mark_name(orphan.journal_id))
    return replayed


async def _replay(engine: AsyncEngine, log_engine: AsyncEngine, orphan: journal.Orphan) -> None:
    records = journal.read(orphan.paths)
    mark = journal.mark_name(orphan.journal_id)
    separate = log_engine is not engine
    async with begin_write(engine) as conn:
        done = await charges.read_mark(conn, mark)
        fresh = [r for r in records if r.seq > done]
        applied = await apply(conn, orphan.journal_id, fresh, release=True)
        if not separate:
            await charges.write_logs(conn, [row for _, row in applied.logs])
        if records:
            await charges.set_mark(conn, mark, records[-1].seq)
    if separate:
        adjusted = dict(applied.logs)
        async with begin_write(log_engine) as conn:
            logs_done = await charges.read_mark(conn, mark)
            rows = [adjusted.get(r.seq, r.log_row) for r in records if r.seq > logs_done and r.log_row is not None]
            await charges.write_logs(conn, [row for row in rows if row is not None])
            if records:
                await charges.set_mark(conn, mark, records[-1].seq)
    if records or applied.figures:
        log.warning("replayed %d charges a stopped process left in its journal %s (%d were written already)%s",
                    len(fresh), orphan.journal_id, len(records) - len(fresh),
                    f"; {applied.capped} quota could not be charged" if applied.capped else "")
