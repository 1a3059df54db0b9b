"""LOG_RETENTION_DAYS: logs older than that many days are deleted every hour, in batches, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage.log_deletion import delete_before

log = logging.getLogger(__name__)

INTERVAL = 3600.0  # seconds between runs
FIRST_DELAY = 60.0  # seconds after start before the first run, so startup is not slowed
PAUSE = 0.05  # seconds between batches, so the keeper's writes get the database in between


class Retention:
    """Deletes logs past the retention period from the log database."""

    def __init__(self, log_engine: AsyncEngine, days: int) -> None:
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

    async def loop(self, first_delay: float = FIRST_DELAY, interval: float = INTERVAL) -> None:
        """Run every `interval` seconds until `stopping` is set (never cancelled inside a transaction)."""
        delay = first_delay
        while not await pause(self.stopping, delay):
            try:
                await self.run_once()
            except Exception:
                log.exception("log retention failed; trying again in %.0f s", interval)
            delay = interval


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stopping` is set; answers whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
