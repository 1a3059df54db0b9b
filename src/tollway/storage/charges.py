"""Writing settled charges and their consume logs: each statement run once per batch, in the caller's transaction.

The keeper's flush and the journal's replay both write through here, so quota, logs, kept bodies, roll-ups and the
journal's mark always go to the database together (storage/journal.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.storage import schema
from tollway.storage.journal import Record
from tollway.storage.log_batch import LogBatch

_users, _tokens, _channels, _markers = schema.users, schema.tokens, schema.channels, schema.markers

_USER_UPDATE = (
    update(_users)
    .where(_users.c.id == bindparam("b_id"))
    .values(
        quota=_users.c.quota + bindparam("b_quota"),
        used_quota=_users.c.used_quota + bindparam("b_used"),
        request_count=_users.c.request_count + bindparam("b_count"),
        leased=_users.c.leased + bindparam("b_leased"),
    )
)
_TOKEN_UPDATE = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("b_id"))
    .values(
        remain_quota=_tokens.c.remain_quota + bindparam("b_remain"),
        used_quota=_tokens.c.used_quota + bindparam("b_used"),
        leased=_tokens.c.leased + bindparam("b_leased"),
        accessed_time=bindparam("b_now"),
    )
)
_CHANNEL_UPDATE = (
    update(_channels)
    .where(_channels.c.id == bindparam("b_id"))
    .values(used_quota=_channels.c.used_quota + bindparam("b_used"))
)


@dataclass
class Batch:
    """Quota deltas per user, token and channel, and the log rows that go with them.

    `leased` moves with the quota spent from a lease (storage/leases.py) and with what is given back.
    """

    users: dict[int, list[int]] = field(default_factory=dict)  # id → [quota, used, requests, leased]
    tokens: dict[int, list[int]] = field(default_factory=dict)  # id → [remain, used, leased]
    channels: dict[int, int] = field(default_factory=dict)  # id → used
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_quota(self) -> bool:
        return bool(self.users or self.tokens or self.channels)

    def charge(self, record: Record, charged: int) -> None:
        """Add one journal record's charge (`charged`: what it was, or less when capped at the balance)."""
        user = self.users.setdefault(record.user_id, [0, 0, 0, 0])
        user[0] -= charged
        user[1] += charged
        user[2] += 1
        token = self.tokens.setdefault(record.token_id, [0, 0, 0])
        if record.token_limited:
            token[0] -= charged
        token[1] += charged
        self.channels[record.channel_id] = self.channels.get(record.channel_id, 0) + charged


async def write_quota(conn: AsyncConnection, batch: Batch) -> None:
    """Add the batch's quota deltas (`col = col + delta`, so other nodes' writes are kept)."""
    if batch.users:
        await conn.execute(_USER_UPDATE, [{"b_id": i, "b_quota": q, "b_used": u, "b_count": n, "b_leased": le}
                                          for i, (q, u, n, le) in sorted(batch.users.items())])
    if batch.tokens:
        now = int(time.time())
        await conn.execute(_TOKEN_UPDATE, [{"b_id": i, "b_remain": r, "b_used": u, "b_leased": le, "b_now": now}
                                           for i, (r, u, le) in sorted(batch.tokens.items())])
    if batch.channels:
        await conn.execute(_CHANNEL_UPDATE, [{"b_id": i, "b_used": u} for i, u in sorted(batch.channels.items())])


async def write_logs(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert log rows (with the bodies kept for some of them) and add them to the dashboards' roll-ups."""
    await LogBatch.of(rows).write(conn)


def _upsert(dialect: str) -> Any:
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(_markers)
        return stmt.on_duplicate_key_update(version=stmt.inserted.version)
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_markers)
    return stmt.on_conflict_do_update(index_elements=["name"], set_={"version": stmt.excluded.version})


async def set_mark(conn: AsyncConnection, name: str, seq: int) -> None:
    """Record in this transaction that a journal's records up to `seq` are written."""
    await conn.execute(_upsert(conn.dialect.name).values(name=name, version=seq))


async def read_mark(conn: AsyncConnection, name: str) -> int:
    """The last sequence number of a journal this database has (0 for none)."""
    found = (await conn.execute(select(_markers.c.version).where(_markers.c.name == name))).scalar()
    return int(found or 0)


async def drop_mark(conn: AsyncConnection, name: str) -> None:
    """Forget a journal whose files are gone."""
    await conn.execute(_markers.delete().where(_markers.c.name == name))
