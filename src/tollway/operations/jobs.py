"""The operations of a running node, started and stopped with it (services.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from tollway.operations.balances import BalanceUpdater
from tollway.operations.channel_tests import ChannelTester
from tollway.operations.option_sync import OptionSync
from tollway.operations.retention import DetailRetention, Retention

if TYPE_CHECKING:
    from tollway.services import Services

log = logging.getLogger(__name__)


class Operations:
    """Channel tests, balances, log retention and option sync of one node."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.settings = settings
        self.tester = ChannelTester(services)
        self.balances = BalanceUpdater(services)
        self.retention = Retention(services.log_engine, settings.log_retention_days)
        self.option_sync = OptionSync(services.keeper)
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = self.retention.stopping
        # Kept bodies expire after LOG_DETAIL_STORAGE_HOURS; 0 falls back to the log retention (AI Proxy's rule).
        detail_hours = settings.log_detail_storage_hours or settings.log_retention_days * 24
        self.detail_retention = DetailRetention(services.log_engine, detail_hours, settings.clean_log_batch_size,
                                                self.stopping)

    def _spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(job, name=name))

    async def start(self) -> None:
        """Start the background loops this node's settings ask for."""
        try:
            await self.option_sync.check()
        except Exception:  # the loop keeps trying; options were loaded with the cache anyway
            log.exception("reading the options marker failed")
        self._spawn(self.option_sync.loop(self.stopping), "tollway-option-sync")
        # Only a master deletes old logs, so several nodes on one database do not repeat the work.
        if self.settings.log_retention_days > 0 and not self.settings.is_slave:
            self._spawn(self.retention.loop(), "tollway-log-retention")
        if not self.settings.is_slave:
            self._spawn(self.detail_retention.loop(), "tollway-log-detail-retention")
        if self.settings.channel_test_frequency_min > 0:
            self._spawn(self.tester.periodic(self.settings.channel_test_frequency_min, self.stopping),
                        "tollway-channel-tests")

    @property
    def jobs(self) -> list[str]:
        """Names of the background loops that are running."""
        return [task.get_name() for task in self._tasks if not task.done()]

    async def stop(self, patience: float = 10.0) -> None:
        """Ask every loop to end at its next pause (none is cancelled inside a database call unless it takes longer
        than `patience` seconds), and end a channel test run after its current channel."""
        self.stopping.set()
        await self.tester.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=patience)
            for task in late:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()
