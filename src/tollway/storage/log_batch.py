"""Log rows waiting for a flush, made ready for the database as they are queued.

Each row is fitted to the log table (storage/log_inserts.py) and counted into the dashboards' roll-ups and the
monitoring sums when it is queued, a few microseconds per call. A flush then only hands prepared values to the
database: however many rows it writes, no per-row work holds up the event loop, so large batches (which cost less
per call than small ones) add nothing to the calls' latency.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.storage import call_sums, log_details, log_inserts, rollups


class LogBatch:
    """Log rows in the order they were queued, fitted, with their roll-up and per-minute increments."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []  # as queued (some carry kept bodies: log_details.DETAIL)
        self.fitted: list[dict[str, Any]] = []
        self.days: dict[rollups.Key, list[int]] = {}  # per user, day and model
        self.minutes: dict[call_sums.Key, list[int]] = {}  # per minute, channel and model
        self.details = False

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> LogBatch:
        batch = cls()
        for row in rows:
            batch.add(row)
        return batch

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (it must not change afterwards)."""
        fitted = log_inserts.fit(row)
        self.rows.append(row)
        self.fitted.append(fitted)
        rollups.count(self.days, fitted)
        call_sums.count(self.minutes, fitted)
        if log_details.DETAIL in row:
            self.details = True

    def then(self, later: LogBatch) -> LogBatch:
        """This batch followed by a later one (a flush that did not write its rows puts them back first)."""
        joined = LogBatch()
        joined.rows = self.rows + later.rows
        joined.fitted = self.fitted + later.fitted
        joined.days = _summed(self.days, later.days)
        joined.minutes = _summed(self.minutes, later.minutes)
        joined.details = self.details or later.details
        return joined

    async def write(self, conn: AsyncConnection) -> None:
        """Insert the rows (with their kept bodies) and add them to the roll-ups and the monitoring sums."""
        if not self.rows:
            return
        if self.details:
            await log_details.insert_logs(conn, self.rows, self.fitted)
        else:
            await log_inserts.insert_fitted(conn, self.fitted)
        await rollups.write(conn, rollups.with_everyone(self.days))
        await call_sums.write(conn, self.minutes)


def _summed(first: dict[Any, list[int]], second: dict[Any, list[int]]) -> dict[Any, list[int]]:
    total = {key: list(values) for key, values in first.items()}
    for key, values in second.items():
        found = total.get(key)
        if found is None:
            total[key] = list(values)
        else:
            for index, value in enumerate(values):
                found[index] += value
    return total
