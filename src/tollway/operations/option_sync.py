"""Options changed on another node, picked up within seconds: poll one marker row, reload options when it moves.

Every option write bumps the `options` marker in its transaction (storage/writes.py set_option); this
loop reads that one row every few seconds in the background, so the request path never queries.
"""

from __future__ import annotations

import asyncio
import logging

from tollway.operations.retention import pause
from tollway.options import Options
from tollway.storage import markers
from tollway.storage.keeper import Keeper, read_options

log = logging.getLogger(__name__)

INTERVAL = 2.0  # seconds between polls


class OptionSync:
    """Keeps this node's options in step with the database."""

    def __init__(self, keeper: Keeper, interval: float = INTERVAL) -> None:
        self.keeper = keeper
        self.interval = interval
        self.seen: int | None = None

    async def check(self) -> bool:
        """Reload options if the marker moved since the last look; answers whether it did."""
        keeper = self.keeper
        async with keeper.engine.connect() as conn:
            current = await markers.version(conn, markers.OPTIONS)
        if current == self.seen:
            return False
        async with keeper.lock, keeper.engine.connect() as conn:
            # Read after the marker: a change committed in between is read now and seen again next time.
            stored = await read_options(conn)
            keeper.cache.options = Options(stored)
        changed = self.seen is not None
        self.seen = current
        return changed

    async def loop(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping` is set; backs off while the database fails."""
        failures = 0
        while not await pause(stopping, self.interval * min(2**failures, 30)):
            try:
                await self.check()
                failures = 0
            except Exception:
                failures += 1
                if failures in (1, 5) or failures % 50 == 0:
                    log.exception("checking for option changes failed (%d times in a row)", failures)
