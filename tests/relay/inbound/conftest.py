"""Helpers of the inbound APIs' end-to-end tests (the mock upstreams they use are in tests/relay/conftest.py)."""

from __future__ import annotations

from typing import Any

from tests.harness import Gateway


def consume_logs(gateway: Gateway) -> list[dict[str, Any]]:
    """The consume logs, newest first, once everything queued is written."""
    gateway.flush()
    rows: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return rows
