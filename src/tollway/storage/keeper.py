"""The keeper: the one writer of quota columns, writing settled quota and logs in batches off the request path.

Every settled call is first written to this process's journal (storage/journal.py), then summed in
memory; a flush writes the sums, the logs and the journal's mark in one transaction, so a call's
charge and its log are committed together and a crash at any moment loses nothing the journal holds.
Flushes, reloads and management writes to cached rows all run under `keeper.lock`, so a reload never
reads a row between a flush's commit and the in-memory bookkeeping that follows it. Requests settle
in memory (tollway.billing.ledger) and never wait for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import charges, journal, legacy_spill, schema
from tollway.storage.cache import Balance, Cache, ChannelEntry, TokenEntry, UserEntry
from tollway.storage.charges import Batch
from tollway.storage.journal import Journal

log = logging.getLogger(__name__)

_users, _tokens, _channels = schema.users, schema.tokens, schema.channels
_WAKE_AT_LOGS = 1000  # queued logs that bring the next flush forward


@dataclass
class _Snapshot:
    """What one flush writes: the unwritten amounts read at one instant, and the journal sequence they cover."""

    seq: int
    users: list[tuple[UserEntry, int, int, int]]
    tokens: list[tuple[TokenEntry, int, int]]
    channels: list[tuple[ChannelEntry, int]]
    logs: list[dict[str, Any]] = field(default_factory=list)

    def batch(self) -> Batch:
        return Batch(users={u.id: [q, used, n] for u, q, used, n in self.users},
                     tokens={t.id: [r, used] for t, r, used in self.tokens},
                     channels={c.id: used for c, used in self.channels})


class Keeper:
    """Owns the database side of the cache: the journal, batched writes, periodic reloads, and the write lock."""

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
        self.spill_dir = spill_dir
        self.journal = Journal(spill_dir / "journal")
        self._logs: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        # The last journal sequence number each database holds, and a flush whose commit may or may not
        # have happened (its connection failed at the wrong moment): the next flush finds out from the mark.
        self._quota_seq = 0
        self._logs_seq = 0
        self._doubtful: _Snapshot | None = None
        # Told (seconds, logs written) after each flush that wrote something (metrics).
        self.on_flushed: Callable[[float, int], None] | None = None

    @property
    def separate_logs(self) -> bool:
        return self.log_engine is not self.engine

    # -- settling --------------------------------------------------------------------------------------------

    def record(self, user: UserEntry, token: TokenEntry, channel: ChannelEntry, charged: int,
               log_row: dict[str, Any] | None) -> None:
        """Journal one settled call and queue its log (the ledger has moved the amounts already)."""
        self.journal.append(user.id, token.id, not token.unlimited, channel.id, charged, log_row)
        if log_row is not None:
            self._logs.append(log_row)
            if len(self._logs) >= _WAKE_AT_LOGS:
                self._wake.set()

    def add_log(self, row: dict[str, Any]) -> None:
        """Journal and queue a log row that charges nothing (imports, tests)."""
        self.journal.append(journal.NO_CHARGE, 0, False, 0, 0, row)
        self._logs.append(row)

    @property
    def pending_logs(self) -> int:
        return len(self._logs)

    # -- flush -----------------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write settled quota and queued logs; on failure everything stays queued for the next try."""
        async with self.lock:
            started, logs = time.monotonic(), len(self._logs)
            await self.flush_locked()
            if self.on_flushed is not None and logs:
                self.on_flushed(time.monotonic() - started, logs)

    def _snapshot(self) -> _Snapshot:
        # No await from here to the return: the amounts, the logs and the sequence number belong together.
        cache = self.cache
        snapshot = _Snapshot(
            seq=self.journal.seal(),
            users=[(u, u.quota.unwritten, u.used_quota.unwritten, u.request_count.unwritten)
                   for u in cache.dirty_users],
            tokens=[(t, t.remain.unwritten, t.used.unwritten) for t in cache.dirty_tokens],
            channels=[(c, c.used.unwritten) for c in cache.dirty_channels],
            logs=self._logs,
        )
        self._logs = []
        return snapshot

    async def flush_locked(self) -> None:
        """`flush` for a caller that holds `lock` already (management writes that replace a balance)."""
        if self._doubtful is not None:
            await self._settle_doubt()
        if self.journal.seq <= min(self._quota_seq, self._logs_seq):
            return  # nothing settled since the last flush
        snapshot = self._snapshot()
        mark = journal.mark_name(self.journal.id)
        committing = False
        try:
            if snapshot.seq > self._quota_seq:
                async with self.engine.begin() as conn:
                    await charges.write_quota(conn, snapshot.batch())
                    if not self.separate_logs:
                        await charges.write_logs(conn, snapshot.logs)
                    await charges.set_mark(conn, mark, snapshot.seq)
                    committing = True
                committing = False
                self._committed(snapshot)
            if self.separate_logs:
                async with self.log_engine.begin() as conn:
                    await charges.write_logs(conn, snapshot.logs)
                    await charges.set_mark(conn, mark, snapshot.seq)
                self._logs_seq = snapshot.seq
        except BaseException:
            if committing:
                # The commit itself failed (or was cancelled): it may have happened. The next flush reads the
                # journal's mark to find out, and until then the snapshot's logs wait with it.
                self._doubtful = snapshot
                if self.separate_logs:
                    self._logs[:0] = snapshot.logs
            else:
                self._logs[:0] = snapshot.logs  # certainly not written: they go out with the next flush
            raise
        self.journal.discard(min(self._quota_seq, self._logs_seq))

    async def _settle_doubt(self) -> None:
        """Find out whether the last failed flush committed after all, and book it if it did."""
        snapshot = self._doubtful
        assert snapshot is not None
        async with self.engine.connect() as conn:
            committed = await charges.read_mark(conn, journal.mark_name(self.journal.id)) >= snapshot.seq
        self._doubtful = None
        if committed:
            self._committed(snapshot)
        elif not self.separate_logs:
            self._logs[:0] = snapshot.logs

    def _committed(self, snapshot: _Snapshot) -> None:
        """Move what a commit wrote from `unwritten` to `stored`, with no await in between."""
        cache = self.cache
        for user, quota, used, count in snapshot.users:
            _written(user.quota, quota)
            _written(user.used_quota, used)
            _written(user.request_count, count)
            if not (user.quota.unwritten or user.used_quota.unwritten or user.request_count.unwritten):
                cache.dirty_users.discard(user)
        for token, remain, used in snapshot.tokens:
            _written(token.remain, remain)
            _written(token.used, used)
            if not (token.remain.unwritten or token.used.unwritten):
                cache.dirty_tokens.discard(token)
        for channel, used in snapshot.channels:
            _written(channel.used, used)
            if not channel.used.unwritten:
                cache.dirty_channels.discard(channel)
        self._quota_seq = snapshot.seq
        if not self.separate_logs:
            self._logs_seq = snapshot.seq

    # -- reload ----------------------------------------------------------------------------------------------

    async def reload(self) -> None:
        """Flush, then refresh the whole cache from the database (other nodes' changes arrive this way)."""
        async with self.lock:
            await self.flush_locked()
            async with self.engine.connect() as conn:
                users = (await conn.execute(select(_users))).mappings().all()
                tokens = (await conn.execute(select(_tokens))).mappings().all()
                channels = (await conn.execute(select(_channels))).mappings().all()
                options = await read_options(conn)
            self.cache.replace_all(users, tokens, channels, options)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Replay what earlier processes left in their journals, load the cache, and start the background loop."""
        await legacy_spill.replay(self.engine, self.log_engine, self.spill_dir / "unflushed.json")
        await self._replay_orphans()
        self.journal.open()
        await self.reload()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="tollway-keeper")

    async def _replay_orphans(self) -> None:
        for journal_id, paths in journal.orphans(self.journal.directory).items():
            records = journal.read(paths)
            mark = journal.mark_name(journal_id)
            async with self.engine.begin() as conn:
                done = await charges.read_mark(conn, mark)
                fresh = [r for r in records if r.seq > done]
                await charges.write_quota(conn, Batch.of(fresh, logs=False))
                if not self.separate_logs:
                    await charges.write_logs(conn, Batch.of(fresh, quota=False).logs)
                if records:
                    await charges.set_mark(conn, mark, records[-1].seq)
            if self.separate_logs:
                async with self.log_engine.begin() as conn:
                    done = await charges.read_mark(conn, mark)
                    await charges.write_logs(conn, Batch.of((r for r in records if r.seq > done), quota=False).logs)
                    if records:
                        await charges.set_mark(conn, mark, records[-1].seq)
            for path in paths:
                path.unlink(missing_ok=True)
            await self._drop_marks(mark)
            if records:
                log.warning("replayed %d charges a stopped process left in its journal %s (%d were written already)",
                            len(fresh), journal_id, len(records) - len(fresh))

    async def _drop_marks(self, mark: str) -> None:
        # Once its files are gone a journal can never be replayed again, so its marks are no longer needed.
        for engine in {self.engine, self.log_engine}:
            async with engine.begin() as conn:
                await charges.drop_mark(conn, mark)

    async def _loop(self) -> None:
        last_sync = time.monotonic()
        failures = 0
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation of a task
            # whose wait completes at the same moment, which once left shutdown waiting for this loop forever.
            try:
                async with asyncio.timeout(self.flush_interval * min(2**failures, 12)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                return
            try:
                if time.monotonic() - last_sync >= self.sync_interval:
                    await self.reload()
                    last_sync = time.monotonic()
                else:
                    await self.flush()
                failures = 0
            except Exception:
                failures += 1
                log.exception("writing quota and logs failed (attempt %d); keeping them queued", failures)

    async def close(self, grace: float = 10.0) -> None:
        """Stop the loop and write everything still queued within `grace` seconds.

        What cannot be written (the database is down, or too slow) stays in the journal on disk and is
        written by the next start; nothing is lost either way.
        """
        deadline = time.monotonic() + grace
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # The loop ends after the flush it may be in; a flush that hangs past the grace is abandoned, and
            # then its commit may or may not have happened, which only the journal's replay can settle.
            await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
                return self._leave("a flush did not finish in time")
        for attempt in range(3):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self.flush()
            except TimeoutError:
                return self._leave("the final flush did not finish in time")
            except Exception:
                log.exception("final flush failed (attempt %d)", attempt + 1)
                await asyncio.sleep(min(0.5 * (attempt + 1), max(0.0, deadline - time.monotonic())))
                continue
            break
        if not self.journal.clean:
            return self._leave("the database could not be written")
        self.journal.close()
        try:
            await self._drop_marks(journal.mark_name(self.journal.id))
        except Exception:
            log.warning("could not remove this process's journal mark; it is harmless")

    def _leave(self, why: str) -> None:
        self.journal.close()
        log.error("%s at shutdown: unwritten charges and logs stay in %s and are written at the next start",
                  why, self.journal.directory)


def _written(balance: Balance, amount: int) -> None:
    balance.stored += amount
    balance.unwritten -= amount


async def read_options(conn: AsyncConnection) -> Mapping[str, str]:
    """The `options` table as a dict."""
    rows = await conn.execute(select(schema.options.c.key, schema.options.c.value))
    return {key: value or "" for key, value in rows.all()}
