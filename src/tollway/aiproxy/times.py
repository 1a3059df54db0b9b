"""AI Proxy's time parameters: Unix timestamps whose unit is guessed from their digits (utils.ParseTimeRange)."""

from __future__ import annotations

import time

from starlette.requests import Request

from tollway.errors import InvalidRequest

WEEK = 7 * 86400


def seconds(raw: str, name: str) -> float | None:
    """A timestamp in seconds (≤10 digits), ms (≤13), µs (≤16) or ns, as seconds; None when empty or 0."""
    text = raw.strip()
    if not text:
        return None
    digits = text.removeprefix("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise InvalidRequest(f"{name} must be a Unix timestamp (seconds or milliseconds)", param=name)
    value = int(text)
    if value == 0:
        return None  # FastGPT sends 0 for a date left empty
    scale = 1 if len(digits) <= 10 else 1e3 if len(digits) <= 13 else 1e6 if len(digits) <= 16 else 1e9
    return value / scale


def window(request: Request, max_span: float | None) -> tuple[float | None, float]:
    """(start, end) in seconds: end defaults to now; with `max_span`, start is at most that long before end."""
    start = seconds(request.query_params.get("start_timestamp", ""), "start_timestamp")
    end = seconds(request.query_params.get("end_timestamp", ""), "end_timestamp") or time.time()
    if max_span is not None and (start is None or start < end - max_span):
        start = end - max_span
    return start, end
