"""Monitoring sums and kept bodies, written with the logs in one transaction on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from typing import Any

from tests.storage.conftest import Store
from tollway.storage import charges, log_details

MINUTE = 1_699_999_260  # a minute's start, one minute into a quarter hour
QUARTER = MINUTE - MINUTE % 900


def call(second: int, *, channel: int = 7, kind: int = 2, cached: int = 0, retry: int = 0, **extra: Any
         ) -> dict[str, Any]:
    return {"user_id": 1, "created_at": second, "type": kind, "content": "", "username": "u", "token_name": "t",
            "model_name": "gpt-4o-mini", "quota": 10, "prompt_tokens": 3, "completion_tokens": 4,
            "channel_id": channel, "elapsed_time": 100, "first_byte_time": 20, "code": 200 if kind == 2 else 502,
            "retry_times": retry, "cached_tokens": cached, **extra}


async def write(store: Store, rows: list[dict[str, Any]]) -> None:
    async with store.backend.engine.begin() as conn:
        await charges.write_logs(conn, rows)


async def test_minutes_and_quarters_add_up_across_flushes(store: Store) -> None:
    await write(store, [call(MINUTE + 1), call(MINUTE + 2, cached=5), call(MINUTE + 70, kind=6, retry=1)])
    # A later flush adds to the same minute: the quarter's busiest minute rises with it.
    await write(store, [call(MINUTE + 30), call(MINUTE + 40), call(MINUTE + 400, channel=8)])
    minutes = await store.backend.sql("SELECT * FROM tollway_call_minutes ORDER BY minute, channel_id")
    assert [(m["minute"], m["channel_id"], m["request_count"], m["exception_count"]) for m in minutes] == [
        (MINUTE, 7, 4, 0), (MINUTE + 60, 7, 1, 1), (MINUTE + 360, 8, 1, 0)]
    [quarter, other] = await store.backend.sql("SELECT * FROM tollway_call_quarters ORDER BY channel_id")
    assert quarter["quarter"] == QUARTER and quarter["model"] == "gpt-4o-mini"
    assert (quarter["request_count"], quarter["exception_count"], quarter["retry_count"],
            quarter["cache_hit_count"]) == (5, 1, 1, 1)
    assert (quarter["input_tokens"], quarter["output_tokens"], quarter["cached_tokens"]) == (15, 20, 5)
    assert (quarter["total_time_ms"], quarter["total_ttfb_ms"], quarter["quota"]) == (500, 100, 50)
    assert (quarter["max_rpm"], quarter["max_tpm"]) == (4, 28)
    assert (other["channel_id"], other["request_count"], other["max_rpm"]) == (8, 1, 1)


async def test_logs_without_a_channel_are_not_monitoring(store: Store) -> None:
    await write(store, [call(MINUTE, channel=0), call(MINUTE, kind=3), call(MINUTE, kind=1)])
    assert await store.backend.sql("SELECT * FROM tollway_call_minutes") == []


async def test_kept_bodies_join_their_logs(store: Store) -> None:
    bodies = log_details.detail(b'{"model":"x"}', "upstream said no", log_details.Limits())
    await write(store, [call(MINUTE, request_id="a"), call(MINUTE, kind=6, request_id="b", detail=bodies),
                        call(MINUTE, request_id="c")])
    logs = {r["request_id"]: r["id"] for r in await store.backend.sql("SELECT id, request_id FROM logs")}
    assert logs["a"] < logs["b"] < logs["c"]
    [kept] = await store.backend.sql("SELECT * FROM tollway_log_details")
    assert (kept["log_id"], kept["request_body"], kept["response_body"], bool(kept["request_body_truncated"])) == (
        logs["b"], '{"model":"x"}', "upstream said no", False)
    deleted = await log_details.delete_before(store.backend.engine, MINUTE + 1, batch=1)
    assert deleted == 1 and await store.backend.sql("SELECT * FROM tollway_log_details") == []


def test_bodies_are_cut_on_characters() -> None:
    text, cut = log_details.cut("é" * 10, 9)
    assert cut and text == "ééé..." and len(text.encode()) == 9
    assert log_details.cut(b"\xff\xfe audio", 100) == ("", True)  # not text: not kept
    assert log_details.cut("short", 100) == ("short", False)
    assert log_details.cut("anything", -1) == ("", True)
