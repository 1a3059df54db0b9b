"""The keeper: the one writer of quota columns, writing settled quota and logs in batches off the request path.

Every settled call is first written to this process's journal (storage/journal.py), then summed in
memory; a flush writes the sums, the logs, this process's leases (storage/leases.py) and the journal's mark
in one transaction, so a call's charge and its log are committed together and a crash at any moment loses
nothing the journal holds. Flushes, reloads and management writes to cached rows all run under `keeper.lock`,
so a reload never reads a row between a flush's commit and the in-memory bookkeeping that follows it.
Requests settle in memory (tollway.billing.ledger) and never wait for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import charges, journal, leases, legacy_spill, replay, schema
from tollway.storage.cache import Balance, Cache, ChannelEntry, TokenEntry, UserEntry
from tollway.storage.database import begin_write
from tollway.storage.journal import Journal
from tollway.storage.lease_book import LeaseBook, Want
from tollway.storage.leases import Key
from tollway.storage.log_batch import LogBatch
from tollway.storage.snapshot import Snapshot

log = logging.getLogger(__name__)

_users, _tokens, _channels = schema.users, schema.tokens, schema.channels
# Queued logs that bring the next flush forward: fewer, larger flushes cost less per call (bench/README.md), and the
# rows are prepared as they are queued (storage/log_batch.py), so a large flush does not hold calls up.
_WAKE_AT_LOGS = 10_000
_ORPHAN_CHECK_S = 5.0  # how often a running process looks for journals a stopped sibling left on this disk


class _LeaseLost(Exception):
    """A lease this process spends from is gone (reclaimed as expired): the flush takes its careful path."""


class Keeper:
    """Owns the database side of the cache: the journal, leases, batched writes, periodic reloads, the write lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        log_engine: AsyncEngine,
        cache: Cache,
        *,
        flush_interval: float,
        sync_interval: float,
        spill_dir: Path,
        lease_ttl: int = 60,
    ) -> None:
        self.engine = engine
        self.log_engine = log_engine
        self.cache = cache
        self.lock = asyncio.Lock()
        self.flush_interval = flush_interval
        self.sync_interval = sync_interval
        self.spill_dir = spill_dir
        self.journal = Journal(spill_dir / "journal")
        self.leases = LeaseBook(engine, self.journal.id, ttl=lease_ttl, interval=flush_interval)
        self._logs = LogBatch()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.leases.wake = self._wake.set
        self._stopping = False
        # The last journal sequence number each database holds, and a flush whose commit may or may not
        # have happened (its connection failed at the wrong moment): the next flush finds out from the mark.
        self._quota_seq = 0
        self._logs_seq = 0
        self._doubtful: Snapshot | None = None
        self._flushed_at = time.monotonic()
        self._refills: list[Want] = []
        # Told (seconds, logs written) after each flush that wrote something (metrics).
        self.on_flushed: Callable[[float, int], None] | None = None
        # Told (kind, ref) after a management write committed a change other processes must pick up
        # (operations/changes.py publishes it); the change itself is recorded in the write's transaction.
        self.announce: Callable[[str, str], None] | None = None

    @property
    def separate_logs(self) -> bool:
        return self.log_engine is not self.engine

    # -- settling --------------------------------------------------------------------------------------------

    def record(self, user: UserEntry, token: TokenEntry, channel: ChannelEntry, charged: int,
               log_row: dict[str, Any] | None) -> None:
        """Journal one settled call and queue its log (the ledger has moved the amounts already)."""
        self.journal.append(user.id, token.id, not token.unlimited, channel.id, charged, log_row)
        if log_row is not None:
            self._logs.add(log_row)
            if len(self._logs) >= _WAKE_AT_LOGS:
                self._wake.set()

    def add_log(self, row: dict[str, Any]) -> None:
        """Journal and queue a log row that charges nothing (imports, tests)."""
        self.journal.append(journal.NO_CHARGE, 0, False, 0, 0, row)
        self._logs.add(row)

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

    def _snapshot(self) -> Snapshot:
        # No await from here to the return: the amounts, the logs, the returns and the sequence number belong together.
        cache = self.cache
        now = time.monotonic()
        returns, refills = self.leases.plan(now - self._flushed_at)
        self._flushed_at = now
        snapshot = Snapshot(
            seq=self.journal.seal(),
            users=[(u, u.quota.unwritten, u.used_quota.unwritten, u.request_count.unwritten)
                   for u in cache.dirty_users],
            tokens=[(t, t.remain.unwritten, t.used.unwritten) for t in cache.dirty_tokens],
            channels=[(c, c.used.unwritten) for c in cache.dirty_channels],
            logs=self._logs,
            returns=returns,
            refills=refills,
        )
        self._logs = LogBatch()
        return snapshot

    async def flush_locked(self) -> None:
        """`flush` for a caller that holds `lock` already (management writes that replace a balance)."""
        async with self.leases.lock:
            await self._flush()

    async def _flush(self) -> None:
        if self._doubtful is not None:
            await self._settle_doubt()
        book = self.leases
        if self.journal.seq <= min(self._quota_seq, self._logs_seq) and not book.slices:
            return  # nothing settled since the last flush, and no lease to renew or give back
        snapshot = self._snapshot()
        mark = journal.mark_name(self.journal.id)
        committing = main_done = False
        try:
            if snapshot.seq > self._quota_seq or book.slices:
                started = time.monotonic()
                # What each lease row holds before the flush: the slice, with what it gives back (taken off the
                # slice at the snapshot).
                before = {key: piece.balance.lease + snapshot.returns.get(key, 0) for key, piece in book.slices.items()}
                async with self.engine.begin() as conn:
                    await charges.write_quota(conn, snapshot.batch())
                    extra = await leases.settle(conn, book.owner, snapshot.spent(), before, book.ttl) \
                        if book.slices else {}
                    if extra is None:
                        raise _LeaseLost
                    if not self.separate_logs:
                        await snapshot.logs.write(conn)
                    await charges.set_mark(conn, mark, snapshot.seq)
                    committing = True
                committing, main_done = False, True
                self._committed(snapshot, extra)
                book.renewed(started)
            if self.separate_logs and snapshot.seq > self._logs_seq:
                async with self.log_engine.begin() as conn:
                    await snapshot.logs.write(conn)
                    await charges.set_mark(conn, mark, snapshot.seq)
                self._logs_seq = snapshot.seq
        except _LeaseLost:
            book.restore(snapshot.returns)
            await self._write_from_journal(snapshot)
        except BaseException:
            if committing:
                # The commit itself failed (or was cancelled): it may have happened. The next flush reads the
                # journal's mark to find out, and until then the snapshot's logs wait with it.
                self._doubtful = snapshot
                if self.separate_logs:
                    self._logs = snapshot.logs.then(self._logs)
            else:
                if not main_done:
                    book.restore(snapshot.returns)
                self._logs = snapshot.logs.then(self._logs)  # certainly not written: they go out with the next flush
            raise
        self._refills = snapshot.refills
        self.journal.discard(min(self._quota_seq, self._logs_seq))

    async def _settle_doubt(self) -> None:
        """Find out whether the last failed flush committed after all, and book it if it did."""
        snapshot = self._doubtful
        assert snapshot is not None
        async with self.engine.connect() as conn:
            committed = await charges.read_mark(conn, journal.mark_name(self.journal.id)) >= snapshot.seq
        self._doubtful = None
        if committed:
            self._committed(snapshot, {})
        else:
            self.leases.restore(snapshot.returns)
            if not self.separate_logs:
                self._logs = snapshot.logs.then(self._logs)

    def _committed(self, snapshot: Snapshot, extra: Mapping[Key, int]) -> None:
        """Move what a commit wrote from `unwritten` to `stored`, with no await in between."""
        cache = self.cache
        for user, quota, used, count in snapshot.users:
            _written(user.quota, quota, spent=True)
            _written(user.used_quota, used)
            _written(user.request_count, count)
            if not (user.quota.unwritten or user.used_quota.unwritten or user.request_count.unwritten):
                cache.dirty_users.discard(user)
        for token, remain, used in snapshot.tokens:
            _written(token.remain, remain, spent=not token.unlimited)
            _written(token.used, used)
            if not (token.remain.unwritten or token.used.unwritten):
                cache.dirty_tokens.discard(token)
        for channel, used in snapshot.channels:
            _written(channel.used, used)
            if not channel.used.unwritten:
                cache.dirty_channels.discard(channel)
        for key, amount in snapshot.returns.items():
            piece = self.leases.slices.get(key)
            if piece is not None:
                piece.balance.leased -= amount
        for key, amount in extra.items():  # a take whose commit was in doubt did commit: the slice is ours
            piece = self.leases.slices.get(key)
            if piece is not None:
                piece.balance.lease += amount
            else:
                log.warning("lease on %s %s found in the database but not in memory", *key)
        self._quota_seq = snapshot.seq
        if not self.separate_logs:
            self._logs_seq = snapshot.seq

    async def _write_from_journal(self, snapshot: Snapshot) -> None:
        """A lease was reclaimed while this process still spent from it (it could not reach the database for longer
        than the lease's lifetime): write the flush's records one by one, capped at what the balances still have."""
        records = self.journal.sealed_records(self._quota_seq, snapshot.seq)
        book = self.leases
        mark = journal.mark_name(self.journal.id)
        started = time.monotonic()
        async with begin_write(self.engine) as conn:
            applied = await replay.apply(conn, book.owner, records, release=False)
            await leases.renew(conn, book.owner, book.ttl)
            # The logs as the replay capped them replace the snapshot's, here or in the log database below.
            snapshot.logs = LogBatch.of(row for _, row in applied.logs)
            if not self.separate_logs:
                await snapshot.logs.write(conn)
            await charges.set_mark(conn, mark, snapshot.seq)
        log.error("a quota lease of this process was reclaimed while it was still used (was the database out of reach "
                  "for more than LEASE_TTL?): %d charges written one by one, %d quota not covered",
                  len(records), applied.capped)
        snapshot.returns = {}
        self._committed(snapshot, {})
        for key, piece in book.slices.items():
            piece.balance.lease = applied.left.get(key, 0)
            if key in applied.figures:
                piece.balance.stored, piece.balance.leased = applied.figures[key]
        book.renewed(started)
        if self.separate_logs:
            async with self.log_engine.begin() as conn:
                await snapshot.logs.write(conn)
                await charges.set_mark(conn, mark, snapshot.seq)
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
        await replay.replay_orphans(self.engine, self.log_engine, self.journal.directory)
        self.journal.open()
        await self.reload()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="tollway-keeper")

    async def _loop(self) -> None:
        last_sync = last_orphans = time.monotonic()
        failures = 0
        # Leases are renewed by flushes, often enough that they never come near their expiry.
        interval = min(self.flush_interval, self.leases.ttl / 4)
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation of a task
            # whose wait completes at the same moment, which once left shutdown waiting for this loop forever.
            try:
                async with asyncio.timeout(interval * min(2**failures, 12)):
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
                refills, self._refills = self._refills, []
                await self.leases.refill(refills)
                if time.monotonic() - last_orphans >= _ORPHAN_CHECK_S:
                    last_orphans = time.monotonic()
                    # A sibling worker killed on this machine: its journal is written and its leases given back now.
                    await replay.replay_orphans(self.engine, self.log_engine, self.journal.directory)
            except Exception:
                failures += 1
                log.exception("writing quota and logs failed (attempt %d); keeping them queued", failures)

    async def close(self, grace: float = 10.0) -> None:
        """Stop the loop, write everything still queued and give back this process's leases, within `grace` seconds.

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
        for piece in self.leases.slices.values():
            piece.recalled = True  # the last flush gives back every slice
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
            async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                async with self.leases.lock, begin_write(self.engine) as conn:
                    await leases.release_all(conn, self.leases.owner)
                for target in {self.engine, self.log_engine}:
                    async with target.begin() as conn:
                        await charges.drop_mark(conn, journal.mark_name(self.journal.id))
        except Exception:
            log.warning("could not give back this process's quota leases; they return to the balances when they "
                        "expire (LEASE_TTL)")

    def _leave(self, why: str) -> None:
        self.journal.close()
        log.error("%s at shutdown: unwritten charges and logs stay in %s and are written at the next start",
                  why, self.journal.directory)


def _written(balance: Balance, amount: int, *, spent: bool = False) -> None:
    balance.stored += amount
    balance.unwritten -= amount
    if spent:  # the quota came out of this process's lease, which the flush lowered with it
        balance.lease += amount
        balance.leased += amount


async def read_options(conn: AsyncConnection) -> Mapping[str, str]:
    """The `options` table as a dict."""
    rows = await conn.execute(select(schema.options.c.key, schema.options.c.value))
    return {key: value or "" for key, value in rows.all()}
