"""A batch of queued logs, prepared as calls settle, writes what the same rows written at once would."""

from __future__ import annotations

from typing import Any

from tests.storage.conftest import Backend
from tests.storage.test_call_sums import MINUTE, call
from tollway.storage import log_details
from tollway.storage.log_batch import LogBatch
from tollway.storage.migrate import migrate

_TABLES = {"log_rollups": "user_id, day, model_name", "tollway_call_minutes": "minute, channel_id, model",
           "tollway_call_quarters": "quarter, channel_id, model"}


def _rows() -> list[dict[str, Any]]:
    return [call(MINUTE + second, channel=7 + second % 2, kind=6 if second % 5 == 0 else 2, user_id=1 + second % 3,
                 model_name=f"m{second % 4}", cached=second % 3) for second in range(0, 300, 7)]


async def _tables(backend: Backend) -> dict[str, list[dict[str, Any]]]:
    return {table: await backend.sql(f"SELECT * FROM {table} ORDER BY {order}") for table, order in _TABLES.items()}


async def test_a_batch_put_back_before_newer_rows_writes_as_one(backend: Backend) -> None:
    """A flush that failed puts its batch back before the rows queued meanwhile: written later, the logs keep their
    order and the roll-ups and monitoring sums are those of all rows (compared with the rows written at once)."""
    await migrate(backend.engine)
    rows = _rows()
    rows[3][log_details.DETAIL] = log_details.detail(b"asked", b"answered", log_details.Limits())
    async with backend.engine.begin() as conn:
        await LogBatch.of(rows).write(conn)
    expected = await _tables(backend)
    logs = await backend.sql("SELECT * FROM logs ORDER BY id")
    await backend.sql("DELETE FROM logs")
    await backend.sql("DELETE FROM tollway_log_details")
    for table in _TABLES:
        await backend.sql(f"DELETE FROM {table}")

    earlier, later = LogBatch.of(rows[:20]), LogBatch.of(rows[20:])
    joined = earlier.then(later)
    assert len(joined) == len(rows) and joined.details and not later.details
    async with backend.engine.begin() as conn:
        await joined.write(conn)
    assert await _tables(backend) == expected
    again = await backend.sql("SELECT * FROM logs ORDER BY id")
    assert [{**row, "id": 0} for row in again] == [{**row, "id": 0} for row in logs]
    [kept] = await backend.sql("SELECT * FROM tollway_log_details")
    assert (kept["log_id"], kept["request_body"], kept["response_body"]) == (again[3]["id"], "asked", "answered")
    # The batches joined are left as they were.
    assert len(earlier) == 20 and earlier.days != joined.days
