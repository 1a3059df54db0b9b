"""The operations of a running process, started and stopped with it (services.py).

Every process follows the change log (operations/changes.py). The periodic jobs (channel tests, balance updates,
log retention, reclaiming expired leases, pruning the change log) run once per cluster: every process that may run
one looks every little while, and whichever claims the turn first in the database runs it (storage/markers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tollway.operations.balances import BalanceUpdater
from tollway.operations.changes import ChangeFollower
from tollway.operations.channel_tests import ChannelTester
from tollway.operations.retention import FIRST_DELAY, DetailRetention, Retention, pause
from tollway.settings import Settings
from tollway.storage import changes, leases, markers
from tollway.storage.database import Engine

log = logging.getLogger(__name__)

CHANGES_KEPT_S = 600  # the change log keeps ten minutes (a process away longer reloads everything)


class Operations:
    """Background work of one process: the change follower and its share of the cluster's periodic jobs."""

    def __init__(self, settings: Settings, engine: Engine, log_engine: Engine, *, follower: ChangeFollower,
                 tester: ChannelTester, balances: BalanceUpdater) -> None:
        self.settings = settings
        self.engine = engine
        self.tester = tester
        self.balances = balances
        self.retention = Retention(log_engine, settings.log_retention_days)
        self.follower = follower
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = self.retention.stopping
        # Kept bodies expire after LOG_DETAIL_STORAGE_HOURS; 0 falls back to the log retention (AI Proxy's rule).
        detail_hours = settings.log_detail_storage_hours or settings.log_retention_days * 24
        self.detail_retention = DetailRetention(log_engine, detail_hours, settings.clean_log_batch_size,
                                                self.stopping)

    def _spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(job, name=name))

    def _cluster_job(self, name: str, every_s: float, job: Callable[[], Awaitable[Any]], *,
                     look_s: float, first_s: float = 0.0) -> None:
        self._spawn(turns(self.engine, name, every_s, job, self.stopping, look_s=look_s, first_s=first_s),
                    f"tollway-{name}")

    async def start(self) -> None:
        """Start following changes, and the periodic jobs this process's settings ask for."""
        try:
            await self.follower.start()
        except Exception:  # the loop keeps trying; the cache was loaded anyway
            log.exception("reading the change log failed")
        self._spawn(self.follower.loop(self.stopping), "tollway-changes")
        ttl = self.settings.lease_ttl_s
        self._cluster_job("lease-reclaim", max(1.0, ttl / 4), self._reclaim, look_s=max(1.0, ttl / 8))
        self._cluster_job("changes-prune", 60, self._prune, look_s=30)
        if self.settings.log_retention_days > 0:
            self._cluster_job("log-retention", 3600, self.retention.run_once, look_s=60, first_s=FIRST_DELAY)
        self._cluster_job("log-detail-retention", DetailRetention.INTERVAL, self.detail_retention.run_once,
                          look_s=30, first_s=FIRST_DELAY)
        if self.settings.channel_test_frequency_min > 0:
            self._spawn(self.tester.periodic(self.settings.channel_test_frequency_min, self.stopping),
                        "tollway-channel-tests")
        if self.settings.channel_update_frequency_min > 0:
            minutes = self.settings.channel_update_frequency_min
            self._cluster_job("balances", minutes * 60, self.balances.update_all, look_s=min(60.0, minutes * 15))

    async def _reclaim(self) -> None:
        reclaimed = await leases.reclaim_all_expired(self.engine)
        for owner, (kind, subject), amount in reclaimed:
            log.warning("gave back %d quota of %s %s that stopped process %s had leased", amount,
                        "user" if kind == leases.USER else "token", subject, owner)

    async def _prune(self) -> None:
        await changes.prune(self.engine, int(time.time()) - CHANGES_KEPT_S)

    @property
    def jobs(self) -> list[str]:
        """Names of the background loops that are running."""
        return [task.get_name() for task in self._tasks if not task.done()]

    async def stop(self, patience: float = 10.0) -> None:
        """Ask every loop to end at its next pause (none is cancelled inside a database call unless it takes longer
        than `patience` seconds), and end a channel test run after its current channel."""
        self.stopping.set()
        self.follower.wake.set()  # its loop waits for a poll's turn (up to BACKUP_POLL_S), not for `stopping`
        await self.tester.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=patience)
            for task in late:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()
        await self.follower.close()


async def turns(engine: Engine, name: str, every_s: float, job: Callable[[], Awaitable[Any]],
                stopping: asyncio.Event, *, look_s: float, first_s: float = 0.0) -> None:
    """Run `job` once every `every_s` seconds across the cluster: look every `look_s` seconds whether this process
    may claim the turn, until `stopping` is set."""
    delay = first_s or look_s
    failures = 0
    while not await pause(stopping, delay * min(2**failures, 10)):
        delay = look_s
        try:
            if await markers.claim(engine, name, every_s):
                await job()
            failures = 0
        except Exception:
            failures += 1
            if failures in (1, 5) or failures % 50 == 0:
                log.exception("the %s job failed (%d times in a row)", name, failures)
