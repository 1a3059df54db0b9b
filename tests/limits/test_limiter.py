"""Relay rate limits: per-minute requests and tokens per token, user and group; in memory and shared in Redis,
exact under concurrency, across nodes and across processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from typing import Any

import pytest
import redis.asyncio as aioredis

from tollway.crypto import KeyBox
from tollway.errors import RateLimited
from tollway.limits.limiter import Limiter, Ticket
from tollway.options import Options
from tollway.relay.auth import Caller
from tollway.storage.cache import Cache, TokenEntry, UserEntry


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def cache_with(group_limits: dict[str, Any] | None = None) -> Cache:
    cache = Cache(KeyBox(b"k" * 32))
    cache.options = Options({"GroupRateLimit": json.dumps(group_limits or {})})
    return cache


def caller(token_id: int = 1, user_id: int = 1, group: str = "default", rpm: int = 0, tpm: int = 0) -> Caller:
    token = TokenEntry(id=token_id, user_id=user_id, key=f"k{token_id}", name="t", status=1, expired_time=-1,
                       unlimited=True, models=None, subnets=None, rpm_limit=rpm, tpm_limit=tpm)
    user = UserEntry(id=user_id, username=f"u{user_id}", role=1, status=1, group=group, access_token=None)
    return Caller(token, user)


async def admitted(limiter: Limiter, who: Caller, tokens: int = 0) -> bool:
    try:
        await limiter.admit(who, tokens)
    except RateLimited:
        return False
    return True


async def test_no_limit_costs_nothing() -> None:
    limiter = Limiter(cache_with())
    assert await limiter.admit(caller(), 10_000) is None
    assert limiter.memory._arrivals == {}


async def test_requests_per_minute_refuse_with_retry_after() -> None:
    clock = Clock()
    limiter = Limiter(cache_with(), clock=clock)
    who = caller(rpm=3)
    assert [await admitted(limiter, who) for _ in range(3)] == [True, True, True]
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(who, 0)
    error = refused.value
    assert (error.status_code, error.code, error.error_type, error.retry_after) == (429, "rate_limit_exceeded",
                                                                                   "requests", 20)
    assert error.headers == {"Retry-After": "20"}
    assert error.openai_body()["error"]["message"] == (
        "Rate limit reached for requests per minute (RPM) of this token: limit 3. Please try again in 20s.")
    clock.now += 19.5
    assert not await admitted(limiter, who)
    clock.now += 0.5
    assert await admitted(limiter, who) and not await admitted(limiter, who)  # the allowance refills evenly


async def test_tokens_per_minute_are_charged_then_settled() -> None:
    clock = Clock()
    limiter = Limiter(cache_with(), clock=clock)
    who = caller(tpm=1000)
    first = await limiter.admit(who, 400)
    assert isinstance(first, Ticket) and await admitted(limiter, who, 400)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(who, 400)
    assert refused.value.error_type == "tokens" and "(TPM)" in refused.value.message
    limiter.spent(first, 100)  # the first call used 100 of its 400: 300 come back
    assert await admitted(limiter, who, 400)
    assert await admitted(limiter, who, 100) and not await admitted(limiter, who, 1)  # 1000 of 1000 used
    assert await admitted(limiter, caller(token_id=2, tpm=1000), 5000)  # a huge call passes a full bucket alone


async def test_group_defaults_and_token_overrides() -> None:
    limiter = Limiter(cache_with({"vip": {"token_rpm": 2, "user_rpm": 3, "group_rpm": 4}}), clock=Clock())
    a1, a2 = caller(1, 1, "vip"), caller(2, 1, "vip")  # two tokens of one user
    b = caller(3, 2, "vip")
    assert [await admitted(limiter, a1) for _ in range(3)] == [True, True, False]  # the token's default
    assert [await admitted(limiter, a2) for _ in range(2)] == [True, False]  # the user's 3 per minute
    assert [await admitted(limiter, b) for _ in range(2)] == [True, False]  # the group's 4 per minute
    own = caller(4, 3, "vip", rpm=100)  # a token's own limit replaces the group's token default
    assert not await admitted(limiter, own)  # ... but the group is full
    assert [await admitted(limiter, caller(5, 4, "default")) for _ in range(10)] == [True] * 10
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(b, 0)
    assert "of this user" in refused.value.message or "of this group" in refused.value.message


async def test_concurrent_calls_in_memory_never_pass_the_limit() -> None:
    limiter = Limiter(cache_with({"default": {"user_rpm": 7}}))
    results = await asyncio.gather(*(admitted(limiter, caller(i, 1)) for i in range(40)))
    assert sum(results) == 7


async def test_concurrent_calls_on_two_nodes_share_redis(redis_url: str) -> None:
    """Two nodes (each its own limiter and Redis connection) together admit exactly the limit."""
    clients = [aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)]
    try:
        nodes = [Limiter(cache_with(), client) for client in clients]
        who = caller(rpm=10, tpm=1000)
        results = await asyncio.gather(*(admitted(nodes[i % 2], who, 50) for i in range(40)))
        assert sum(results) == 10
        assert await clients[0].exists("tollway:rl:token:1:r", "tollway:rl:token:1:t") == 2
    finally:
        for client in clients:
            await client.aclose()


async def test_tokens_settle_in_redis_and_refusals_are_remembered_locally(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = Limiter(cache_with(), client)
        who = caller(tpm=1000)
        ticket = await limiter.admit(who, 600)
        assert ticket is not None and ticket.shared
        assert not await admitted(limiter, who, 600)
        calls = 0
        take = limiter.shared.take

        async def counted(charges: Any) -> Any:
            nonlocal calls
            calls += 1
            return await take(charges)

        limiter.shared.take = counted
        for _ in range(5):
            assert not await admitted(limiter, who, 600)
        assert calls == 0  # a full bucket is refused without asking Redis again
        limiter._blocked.clear()
        limiter.spent(ticket, 100)  # 500 tokens come back, settled in Redis by the background task
        await limiter.settle()
        assert await admitted(limiter, who, 600) and calls == 1
    finally:
        await client.aclose()


async def test_redis_failure_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = Limiter(cache_with(), client)
        who = caller(rpm=2)
        assert [await admitted(limiter, who) for _ in range(3)] == [True, True, False]
        assert "counted in memory" in caplog.text
    finally:
        await client.aclose()


def _process_admits(url: str, count: int, start: Any, results: Any) -> None:
    """One process: its own limiter and Redis connection, `count` calls once every process is ready."""

    async def run() -> int:
        client = aioredis.Redis.from_url(url)
        try:
            limiter = Limiter(cache_with({"default": {"group_rpm": 15}}), client)
            start.wait()
            outcomes = await asyncio.gather(*(admitted(limiter, caller(i, i)) for i in range(count)))
            return sum(outcomes)
        finally:
            await client.aclose()

    results.put(asyncio.run(run()))


def test_two_processes_share_one_limit(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_process_admits, args=(redis_url, 20, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    start.set()
    admitted_counts = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sum(admitted_counts) == 15 and all(worker.exitcode == 0 for worker in workers)
