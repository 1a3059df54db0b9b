"""Log rows fitted and inserted by the thousand on every backend, exactly as given."""

from __future__ import annotations

from typing import Any

from tests.storage.conftest import Backend
from tollway.constants import LogType
from tollway.storage import schema
from tollway.storage.log_inserts import fit, insert_fitted
from tollway.storage.migrate import migrate


def test_an_over_long_log_row_is_clipped_not_fatal() -> None:
    """A model name longer than its column must not block the batch (and every later flush) forever."""
    row = fit({"user_id": 1, "type": 2, "model_name": "m" * 500, "request_id": "r" * 100})
    assert len(row["model_name"]) == 191 and len(row["request_id"]) == 64
    assert set(row) == {c.name for c in schema.logs.columns} - {"id"}
    assert row["quota"] == 0 and row["is_stream"] is False


def _row(number: int) -> dict[str, Any]:
    return {"user_id": number % 7 + 1, "created_at": 1_700_000_000 + number, "type": LogType.CONSUME,
            "content": None if number % 5 == 0 else f"call {number} 100% ‘quoted’ %s ?", "username": "ann",
            "token_name": "t", "model_name": "gpt-4o-mini", "quota": number, "prompt_tokens": 3,
            "completion_tokens": number % 11, "channel_id": 1, "request_id": f"r{number}", "elapsed_time": 5,
            "is_stream": number % 2 == 0, "system_prompt_reset": False, "first_byte_time": 2, "code": 200,
            "ip": "::1", "endpoint": "/v1/chat/completions"}


async def test_thousands_of_rows_arrive_in_order_and_intact(backend: Backend) -> None:
    """More rows than one SQLite statement holds, with enums, booleans, NULLs and characters drivers treat
    specially (% and ?), arrive in order with every value as given."""
    await migrate(backend.engine)
    rows = [fit(_row(number)) for number in range(2345)]
    async with backend.engine.begin() as conn:
        await insert_fitted(conn, rows)
        await insert_fitted(conn, [])
    found = await backend.sql("SELECT * FROM logs ORDER BY id")
    assert len(found) == len(rows)
    for stored, given in zip(found, rows, strict=True):
        assert {name: stored[name] for name in given} == {**given, "type": int(given["type"]),
                                                         "is_stream": stored["is_stream"]}
        assert bool(stored["is_stream"]) is given["is_stream"]
