"""LOG_RETENTION_DAYS: logs older than that many days are deleted every hour (by one process of the cluster,
operations/jobs.py), in batches, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from tollway.storage import call_sums, log_details
from tollway.storage.database import Engine
from tollway.storage.log_deletion import delete_before

log = logging.getLogger(__name__)

FIRST_DELAY = 60.0  # seconds after start before the first run, so startup is not slowed
PAUSE = 0.05  # seconds between batches, so the keeper's writes get the database in between


class Retention:
    """Deletes logs past the retention period from the log database."""

    def __init__(self, log_engine: Engine, days: int) -> None:
        self.log_engine = log_engine
        self.days = days
        self.stopping = asyncio.Event()

    async def run_once(self, now: float | None = None) -> int:
        """Delete logs created before the retention period; answers how many."""
        cutoff = int((time.time() if now is None else now) - self.days * 86400)
        deleted = await delete_before(self.log_engine, cutoff, pause=PAUSE, going=lambda: not self.stopping.is_set())
        if deleted:
            log.info("log retention: deleted %d logs older than %d days", deleted, self.days)
        return deleted


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stopping` is set; answers whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


class DetailRetention:
    """Deletes kept request/response bodies after LOG_DETAIL_STORAGE_HOURS (else the log retention), a small batch
    per transaction, and the monitoring's minute sums after MINUTE_SUMS_DAYS (its quarter-hour sums stay)."""

    INTERVAL = 60.0  # seconds between runs: FastGPT keeps bodies for one hour
    MINUTE_SUMS_DAYS = 31

    def __init__(self, log_engine: Engine, hours: int, batch: int, stopping: asyncio.Event) -> None:
        self.log_engine = log_engine
        self.hours = hours
        self.batch = batch
        self.stopping = stopping

    async def run_once(self, now: float | None = None) -> int:
        """Delete bodies kept longer than allowed and old minute sums; answers how many bodies."""
        now = time.time() if now is None else now
        deleted = 0
        if self.hours > 0:
            deleted = await log_details.delete_before(self.log_engine, int(now - self.hours * 3600), batch=self.batch,
                                                      pause=PAUSE, going=lambda: not self.stopping.is_set())
        await call_sums.prune_minutes(self.log_engine, int(now - self.MINUTE_SUMS_DAYS * 86400))
        if deleted:
            log.info("log detail retention: deleted %d request/response bodies older than %d hours", deleted,
                     self.hours)
        return deleted
