"""FastGPT's monitoring tab: `GET /api/dashboardv2/` by minute, hour and day in the browser's IANA time zone."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.aiproxy.fastgpt import FastGPT, Rejected, parse_dashboard
from tests.harness import Gateway

UTC = datetime.UTC


def at(text: str) -> int:
    """Unix seconds of a UTC time."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def log(gateway: Gateway, when: str, *, channel: int = 1, model: str = "gpt-4o-mini", error: bool = False,
        cached: int = 0, quota: int = 500) -> None:
    """A consume (or error) log written as the relay writes them, at a chosen time."""
    gateway.services.keeper.add_log({
        "user_id": 1, "username": "root", "created_at": at(when), "type": 6 if error else 2, "content": "",
        "token_name": "ADMIN_KEY", "model_name": model, "quota": 0 if error else quota, "prompt_tokens": 10,
        "completion_tokens": 0 if error else 20, "channel_id": channel, "elapsed_time": 1000, "first_byte_time": 100,
        "code": 500 if error else 200, "retry_times": 0, "cached_tokens": cached})


def board(fastgpt: FastGPT, start: str, end: str, timezone: str, timespan: str, **filters: Any
          ) -> list[dict[str, Any]]:
    return parse_dashboard(fastgpt.get_dashboard_v2(start_timestamp=at(start) * 1000, end_timestamp=at(end) * 1000,
                                                    timezone=timezone, timespan=timespan, **filters))


@pytest.fixture
def calls(aiproxy: Gateway) -> Gateway:
    # 10:00-11:00 in India (UTC+5:30) is 04:30-05:30 UTC; 10:00-11:00 in Nepal (UTC+5:45) is 04:15-05:15 UTC.
    log(aiproxy, "2026-01-15T04:31:10", cached=4)
    log(aiproxy, "2026-01-15T04:31:50")
    log(aiproxy, "2026-01-15T04:59:00", error=True)
    log(aiproxy, "2026-01-15T05:14:00", channel=2)
    log(aiproxy, "2026-01-15T05:29:00", model="deepseek-chat")
    log(aiproxy, "2026-01-15T20:00:00")  # the next local day in India and Nepal
    aiproxy.flush()
    return aiproxy


def test_hours_in_a_half_hour_zone(calls: Gateway, fastgpt: FastGPT) -> None:
    data = board(fastgpt, "2026-01-14T18:30:00", "2026-01-15T18:29:59", "Asia/Kolkata", "hour")
    assert [item["timestamp"] for item in data] == [at("2026-01-15T04:30:00")]  # the local 10:00, one bucket
    rows = {(row["channel_id"], row["model"]): row for row in data[0]["summary"]}
    main = rows[(1, "gpt-4o-mini")]
    assert (main["request_count"], main["exception_count"], main["cache_hit_count"]) == (3, 1, 1)
    assert (main["input_tokens"], main["output_tokens"], main["total_tokens"]) == (30, 40, 70)
    assert (main["total_time_milliseconds"], main["total_ttfb_milliseconds"]) == (3000, 300)
    assert (main["max_rpm"], main["max_tpm"]) == (2, 60)
    assert main["used_amount"] == pytest.approx(1000 / 500000)
    assert set(rows) == {(1, "gpt-4o-mini"), (2, "gpt-4o-mini"), (1, "deepseek-chat")}


def test_hours_in_a_quarter_hour_zone(calls: Gateway, fastgpt: FastGPT) -> None:
    data = board(fastgpt, "2026-01-14T18:15:00", "2026-01-15T18:14:59", "Asia/Kathmandu", "hour")
    by_time = {item["timestamp"]: sum(r["request_count"] for r in item["summary"]) for item in data}
    # 10:00 Nepal (04:15 UTC) holds 04:31, 04:31, 04:59 and 05:14; 11:00 (05:15 UTC) holds 05:29.
    assert by_time == {at("2026-01-15T04:15:00"): 4, at("2026-01-15T05:15:00"): 1}


def test_days_minutes_and_filters(calls: Gateway, fastgpt: FastGPT) -> None:
    days = board(fastgpt, "2026-01-14T00:00:00", "2026-01-17T00:00:00", "Asia/Kolkata", "day")
    assert [(d["timestamp"], sum(r["request_count"] for r in d["summary"])) for d in days] == [
        (at("2026-01-14T18:30:00"), 5), (at("2026-01-15T18:30:00"), 1)]
    utc_days = board(fastgpt, "2026-01-14T00:00:00", "2026-01-17T00:00:00", "UTC", "day")
    assert [(d["timestamp"], sum(r["request_count"] for r in d["summary"])) for d in utc_days] == [
        (at("2026-01-15T00:00:00"), 6)]
    minutes = board(fastgpt, "2026-01-15T04:30:00", "2026-01-15T04:32:00", "Asia/Kolkata", "minute")
    assert [(m["timestamp"], m["summary"][0]["request_count"], m["summary"][0]["max_rpm"]) for m in minutes] == [
        (at("2026-01-15T04:31:00"), 2, 2)]
    only = board(fastgpt, "2026-01-14T00:00:00", "2026-01-17T00:00:00", "Asia/Kolkata", "hour", channel=2)
    assert [row["channel_id"] for item in only for row in item["summary"]] == [2]
    model = board(fastgpt, "2026-01-14T00:00:00", "2026-01-17T00:00:00", "Asia/Kolkata", "hour", model="deepseek-chat")
    assert [row["model"] for item in model for row in item["summary"]] == ["deepseek-chat"]


def test_daylight_saving_days(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    """New York's day of the spring change has 23 hours; each call lands in its own local day."""
    log(aiproxy, "2026-03-08T04:30:00")  # 23:30 on the 7th (EST, UTC-5)
    log(aiproxy, "2026-03-08T05:30:00")  # 00:30 on the 8th (EST)
    log(aiproxy, "2026-03-09T03:30:00")  # 23:30 on the 8th (EDT, UTC-4)
    log(aiproxy, "2026-03-09T04:30:00")  # 00:30 on the 9th (EDT)
    aiproxy.flush()
    days = board(fastgpt, "2026-03-07T00:00:00", "2026-03-10T00:00:00", "America/New_York", "day")
    assert [(d["timestamp"], d["summary"][0]["request_count"]) for d in days] == [
        (at("2026-03-07T05:00:00"), 1), (at("2026-03-08T05:00:00"), 2), (at("2026-03-09T04:00:00"), 1)]


def test_no_data_is_an_empty_list(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    assert board(fastgpt, "2026-01-01T00:00:00", "2026-01-02T00:00:00", "Asia/Shanghai", "hour") == []
    # Without the trailing slash (the V4.11 proxy adds it; other clients may not) and without a window.
    answer = fastgpt.check(fastgpt.http.get(f"{aiproxy.url}/api/dashboardv2",
                                            headers={"Authorization": f"Bearer {fastgpt.token}"}))
    assert answer == []


@pytest.mark.parametrize(("params", "fragment"), [
    ({"timezone": "Mars/Olympus", "timespan": "hour"}, "Mars/Olympus"),  # in the browser's language (zh here)
    ({"timezone": "UTC", "timespan": "fortnight"}, "timespan"),
    ({"timezone": "UTC", "timespan": "hour", "start_timestamp": "2000", "end_timestamp": "1000"}, "end_timestamp"),
    ({"timezone": "UTC", "timespan": "hour", "channel": "one"}, "channel"),
])
def test_bad_dashboard_requests(fastgpt: FastGPT, params: dict[str, str], fragment: str) -> None:
    with pytest.raises(Rejected) as refused:
        fastgpt.check(fastgpt.proxy("GET", "/api/aiproxy/api/dashboardv2", params))
    assert refused.value.status == 400 and fragment in refused.value.body["message"]
