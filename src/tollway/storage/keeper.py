"""The keeper: the one writer of quota columns, writing settled quota and logs in batches off the request path.

Flushes, reloads and management writes to cached rows all run under `keeper.lock`, so a reload never
reads a row between a flush's commit and the in-memory bookkeeping that follows it. Requests settle
in memory (tollway.billing.ledger) and never wait for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import rollups, schema
from tollway.storage.cache import Balance, Cache

log = logging.getLogger(__name__)

_users, _tokens, _channels, _logs = schema.users, schema.tokens, schema.channels, schema.logs

_USER_UPDATE = (
    update(_users)
    .where(_users.c.id == bindparam("b_id"))
    .values(
        quota=_users.c.quota + bindparam("b_quota"),
        used_quota=_users.c.used_quota + bindparam("b_used"),
        request_count=_users.c.request_count + bindparam("b_count"),
    )
)
_TOKEN_UPDATE = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("b_id"))
    .values(
        remain_quota=_tokens.c.remain_quota + bindparam("b_remain"),
        used_quota=_tokens.c.used_quota + bindparam("b_used"),
        accessed_time=bindparam("b_now"),
    )
)
_CHANNEL_UPDATE = (
    update(_channels)
    .where(_channels.c.id == bindparam("b_id"))
    .values(used_quota=_channels.c.used_quota + bindparam("b_used"))
)


class Keeper:
    """Owns the database side of the cache: batched writes, periodic reloads, and the write lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        log_engine: AsyncEngine,
        cache: Cache,
        *,
        flush_interval: float,
        sync_interval: float,
        spill_dir: Path,
    ) -> None:
        self.engine = engine
        self.log_engine = log_engine
        self.cache = cache
        self.lock = asyncio.Lock()
        self.flush_interval = flush_interval
        self.sync_interval = sync_interval
        self.spill_path = spill_dir / "unflushed.json"
        self._logs: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- logs --------------------------------------------------------------------------------------------

    def add_log(self, row: dict[str, Any]) -> None:
        """Queue a log row for the next flush."""
        self._logs.append(row)
        if len(self._logs) >= 1000:
            self._wake.set()

    @property
    def pending_logs(self) -> int:
        return len(self._logs)

    # -- flush -------------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write settled quota and queued logs; on failure everything stays queued for the next try."""
        async with self.lock:
            await self._flush_quota()
            await self._flush_logs()

    async def _flush_quota(self) -> None:
        cache = self.cache
        users = [(u, u.quota.unwritten, u.used_quota.unwritten, u.request_count.unwritten) for u in cache.dirty_users]
        tokens = [(t, t.remain.unwritten, t.used.unwritten) for t in cache.dirty_tokens]
        channels = [(c, c.used.unwritten) for c in cache.dirty_channels]
        if not (users or tokens or channels):
            return
        now = int(time.time())
        async with self.engine.begin() as conn:
            if users:
                await conn.execute(
                    _USER_UPDATE,
                    [{"b_id": u.id, "b_quota": q, "b_used": used, "b_count": n} for u, q, used, n in users],
                )
            if tokens:
                await conn.execute(
                    _TOKEN_UPDATE,
                    [{"b_id": t.id, "b_remain": r, "b_used": used, "b_now": now} for t, r, used in tokens],
                )
            if channels:
                await conn.execute(_CHANNEL_UPDATE, [{"b_id": c.id, "b_used": used} for c, used in channels])
        # Committed: move what was written from `unwritten` to `stored`, with no await in between.
        for user, quota, used, count in users:
            _written(user.quota, quota)
            _written(user.used_quota, used)
            _written(user.request_count, count)
            if not (user.quota.unwritten or user.used_quota.unwritten or user.request_count.unwritten):
                cache.dirty_users.discard(user)
        for token, remain, used in tokens:
            _written(token.remain, remain)
            _written(token.used, used)
            if not (token.remain.unwritten or token.used.unwritten):
                cache.dirty_tokens.discard(token)
        for channel, used in channels:
            _written(channel.used, used)
            if not channel.used.unwritten:
                cache.dirty_channels.discard(channel)

    async def _flush_logs(self) -> None:
        if not self._logs:
            return
        batch, self._logs = [_fit(row) for row in self._logs], []
        try:
            async with self.log_engine.begin() as conn:
                await conn.execute(insert(_logs), batch)
                await rollups.add(conn, batch)  # dashboard sums, committed with the logs they count
        except BaseException:
            self._logs[:0] = batch
            raise

    # -- reload ------------------------------------------------------------------------------------------

    async def reload(self) -> None:
        """Flush, then refresh the whole cache from the database (other nodes' changes arrive this way)."""
        async with self.lock:
            await self._flush_quota()
            async with self.engine.connect() as conn:
                users = (await conn.execute(select(_users))).mappings().all()
                tokens = (await conn.execute(select(_tokens))).mappings().all()
                channels = (await conn.execute(select(_channels))).mappings().all()
                options = await read_options(conn)
            self.cache.replace_all(users, tokens, channels, options)

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Replay what a previous process could not write, load the cache, and start the background loop."""
        await self._replay_spill()
        await self.reload()
        self._task = asyncio.create_task(self._loop(), name="tollway-keeper")

    async def _loop(self) -> None:
        last_sync = time.monotonic()
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval * min(2**failures, 12))
            self._wake.clear()
            try:
                if time.monotonic() - last_sync >= self.sync_interval:
                    await self.reload()
                    last_sync = time.monotonic()
                await self.flush()
                failures = 0
            except Exception:
                failures += 1
                log.exception("writing quota and logs failed (attempt %d); keeping them queued", failures)

    async def close(self) -> None:
        """Stop the loop and write everything still queued; spill it to disk if the database refuses."""
        if self._task is not None:
            # Cancelled only between flushes: cancelling a flush while it commits cannot tell whether the
            # commit happened, so its rows would be written again (or counted as written when they were not).
            async with self.lock:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(3):
            try:
                await self.flush()
                return
            except Exception:
                log.exception("final flush failed (attempt %d)", attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
        self._spill()

    # -- spill file: quota and logs that could not be written at shutdown -----------------------------------

    def _spill(self) -> None:
        cache = self.cache
        state = {
            "users": [[u.id, u.quota.unwritten, u.used_quota.unwritten, u.request_count.unwritten]
                      for u in cache.dirty_users],
            "tokens": [[t.id, t.remain.unwritten, t.used.unwritten] for t in cache.dirty_tokens],
            "channels": [[c.id, c.used.unwritten] for c in cache.dirty_channels],
            "logs": self._logs,
        }
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(self.spill_path, orjson.dumps(state))
        log.error("database unavailable at shutdown; saved unwritten quota and logs to %s", self.spill_path)

    async def _replay_spill(self) -> None:
        if not self.spill_path.is_file():
            return
        state = orjson.loads(self.spill_path.read_bytes())
        now = int(time.time())
        async with self.engine.begin() as conn:
            if state["users"]:
                await conn.execute(_USER_UPDATE, [{"b_id": i, "b_quota": q, "b_used": u, "b_count": n}
                                                  for i, q, u, n in state["users"]])
            if state["tokens"]:
                await conn.execute(_TOKEN_UPDATE, [{"b_id": i, "b_remain": r, "b_used": u, "b_now": now}
                                                   for i, r, u in state["tokens"]])
            if state["channels"]:
                await conn.execute(_CHANNEL_UPDATE, [{"b_id": i, "b_used": u} for i, u in state["channels"]])
        if state["logs"] and (state["users"] or state["tokens"] or state["channels"]):
            # The quota is committed: keep only the logs on disk, so a failure below never replays it twice.
            state.update(users=[], tokens=[], channels=[])
            _replace_file(self.spill_path, orjson.dumps(state))
        if state["logs"]:
            async with self.log_engine.begin() as conn:
                replayed = [_fit(row) for row in state["logs"]]
                await conn.execute(insert(_logs), replayed)
                await rollups.add(conn, replayed)
        self.spill_path.unlink()
        log.warning("replayed quota and logs saved by the previous shutdown from %s", self.spill_path)


def _replace_file(path: Path, data: bytes) -> None:
    """Write a file whole or not at all, so a crash mid-write never leaves a spill file start() cannot read."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def _log_columns() -> tuple[tuple[str, object, int | None], ...]:
    """(name, default, text length) of each log column but the id, worked out once."""
    columns = []
    for column in _logs.columns:
        if column.name == "id":
            continue
        default = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
        columns.append((column.name, None if callable(default) else default, getattr(column.type, "length", None)))
    return tuple(columns)


_LOG_COLUMNS = _log_columns()


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    """A log row every database accepts: all columns present and text clipped to its column's length.

    One over-long model name must not make the whole batch (and every later flush) fail.
    """
    fitted = {}
    for name, default, length in _LOG_COLUMNS:
        value = row.get(name)
        if value is None:
            value = default
        elif length and isinstance(value, str) and len(value) > length:
            value = value[:length]
        fitted[name] = value
    return fitted


def _written(balance: Balance, amount: int) -> None:
    balance.stored += amount
    balance.unwritten -= amount


async def read_options(conn: AsyncConnection) -> Mapping[str, str]:
    """The `options` table as a dict."""
    rows = await conn.execute(select(schema.options.c.key, schema.options.c.value))
    return {key: value or "" for key, value in rows.all()}
