"""`GET /api/dashboardv2/`: calls per time bucket, channel and model, in the caller's IANA time zone.

Minute buckets come from the minute sums; hour, day and month buckets from the quarter-hour sums, each quarter
placed in the local hour (or day, or month) it starts in. Every time zone's offset is a whole number of quarter
hours, so local hours start on quarter boundaries even at :30 and :45 offsets (where AI Proxy's UTC-aligned hours
match no local hour). When the zone keeps one offset through the range (no daylight saving change in it), the
database sums quarters into local hours and days itself; otherwise each quarter is placed here. Each row has every
number FastGPT reads, never null; no data is `[]`.
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.admin.envelope import int64, ok
from tollway.aiproxy import times
from tollway.errors import InvalidRequest
from tollway.storage import call_sums

if TYPE_CHECKING:
    from tollway.services import Services

SPANS = ("minute", "hour", "day", "month")
WIDTHS = {"hour": 3600, "day": 86400}  # spans of fixed length, summed by the database in a zone with one offset
Bucket = Callable[[int], int]


def zone(name: str) -> datetime.tzinfo:
    """The IANA time zone `name` (UTC when not given), or InvalidRequest."""
    if not name or name in ("UTC", "Local"):
        return datetime.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"unknown time zone {name!r}; send an IANA name such as Asia/Kolkata",
                             param="timezone") from exc


def bucket_of(span: str, tz: datetime.tzinfo) -> Bucket:
    """Unix seconds → the Unix seconds at which its local hour, day or month starts in `tz` (worked out once per
    distinct quarter hour: many rows share one)."""
    known: dict[int, int] = {}

    def start(moment: int) -> int:
        found = known.get(moment)
        if found is not None:
            return found
        local = datetime.datetime.fromtimestamp(moment, tz)
        if span == "hour":
            local = local.replace(minute=0, second=0, microsecond=0)
        elif span == "day":
            local = datetime.datetime(local.year, local.month, local.day, tzinfo=tz)
        else:
            local = datetime.datetime(local.year, local.month, 1, tzinfo=tz)
        known[moment] = int(local.timestamp())
        return known[moment]
    return start


def fixed_offset(tz: datetime.tzinfo, start: float | None, end: float) -> int | None:
    """The zone's UTC offset in seconds when it is the same all through [start, end] (no daylight saving change),
    else None. Offsets last months, so one look every 12 hours finds any change."""
    if start is None:
        return None
    moments = [*range(math.floor(start), math.floor(end), 43200), math.floor(end)]
    offsets = {tz.utcoffset(datetime.datetime.fromtimestamp(moment, datetime.UTC)) for moment in moments}
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    return int(offset.total_seconds()) if offset is not None else 0


def _summary(channel: int, model: str, sums: list[int], max_rpm: int, max_tpm: int, per_unit: float
             ) -> dict[str, Any]:
    # Positions in call_sums.SUMS: requests, exceptions, retries, cache hits, input, output and cached tokens, total
    # and first-byte milliseconds, quota.
    requests, exceptions, retries, hits, tokens_in, tokens_out, cached, total_ms, ttfb_ms, quota = sums
    return {
        "channel_id": channel, "model": model, "request_count": requests, "exception_count": exceptions,
        "retry_count": retries, "cache_hit_count": hits, "input_tokens": tokens_in, "output_tokens": tokens_out,
        "cached_tokens": cached, "total_tokens": tokens_in + tokens_out, "total_time_milliseconds": total_ms,
        "total_ttfb_milliseconds": ttfb_ms, "used_amount": quota / per_unit, "max_rpm": max_rpm, "max_tpm": max_tpm,
    }


def series(rows: Iterable[Any], bucket: Bucket | None, per_unit: float, *, minutes: bool) -> list[dict[str, Any]]:
    """Rows of sums (span start, channel, model, *SUMS[, max_rpm, max_tpm]) as AI Proxy's time series."""
    merged: dict[tuple[int, int, str], list[Any]] = {}
    width = len(call_sums.SUMS)
    for row in rows:
        moment = int(row[0])
        sums = [int(value or 0) for value in row[3:3 + width]]
        if minutes:
            rpm, tpm = sums[0], sums[4] + sums[5]  # a minute's own calls and tokens are its rate
        else:
            rpm, tpm = int(row[3 + width] or 0), int(row[4 + width] or 0)
        key = (bucket(moment) if bucket is not None else moment, int(row[1]), str(row[2]))
        found = merged.get(key)
        if found is None:
            merged[key] = [sums, rpm, tpm]
            continue
        total = found[0]
        for index in range(width):
            total[index] += sums[index]
        found[1], found[2] = max(found[1], rpm), max(found[2], tpm)
    by_time: dict[int, list[dict[str, Any]]] = {}
    for (moment, channel, model), (sums, rpm, tpm) in sorted(merged.items()):
        by_time.setdefault(moment, []).append(_summary(channel, model, sums, rpm, tpm, per_unit))
    return [{"timestamp": moment, "summary": summary} for moment, summary in sorted(by_time.items())]


async def dashboard(request: Request, services: Services) -> Response:
    """AI Proxy's GetTimeSeriesModelData: `channel`, `model`, ms `start/end_timestamp`, `timezone`, `timespan`."""
    span = request.query_params.get("timespan") or "hour"
    if span not in SPANS:
        raise InvalidRequest("timespan must be minute, hour, day or month", param="timespan")
    tz = zone(request.query_params.get("timezone", ""))
    start, end = times.window(request, None)
    if start is not None and start > end:
        raise InvalidRequest("end_timestamp is before start_timestamp", param="end_timestamp")
    per_unit = services.cache.options.quota_per_unit
    offset = fixed_offset(tz, start, end) if span in WIDTHS else None
    params = request.query_params
    channel = int64(params["channel"], "channel") if params.get("channel") and params["channel"] != "0" else None
    scope = (math.floor(start) if start is not None else None, math.floor(end), channel, params.get("model", ""))
    bucket: Bucket | None = None
    if span == "minute":
        rows = await call_sums.minute_sums(services.log_engine, *scope)
    elif offset is not None:
        # One offset all through: the database sums the quarters into local hours or days itself.
        rows = await call_sums.local_span_sums(services.log_engine, offset, WIDTHS[span], *scope)
    else:
        rows = await call_sums.quarter_sums(services.log_engine, *scope)
        bucket = bucket_of(span, tz)
    return ok(series(rows, bucket, per_unit, minutes=span == "minute"))
