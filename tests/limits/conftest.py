"""Fixtures for the relay rate limits: the local Redis, emptied of rate-limit buckets before and after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.accounts.conftest import redis_url as local_redis

__all__ = ["local_redis"]


def _clear(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter("tollway:rl:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_url(local_redis: str) -> Iterator[str]:
    """The local Redis (skipped, or failed under CI=true, when it is not running) with no rate-limit buckets."""
    _clear(local_redis)
    yield local_redis
    _clear(local_redis)
