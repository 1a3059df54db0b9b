"""Rate limits in running gateways: set through the management API, enforced by the limiter the services hold,
shared by two nodes through Redis. (The relay's own 429 answers are in tests/relay/test_health_wiring.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.harness import ROOT_TOKEN, Gateway, settings_for
from tollway.errors import RateLimited
from tollway.relay.auth import Caller


def root_caller(gateway: Gateway) -> Caller:
    cache = gateway.services.cache
    token = cache.tokens[ROOT_TOKEN]
    return Caller(token, cache.users[token.user_id])


def admits(gateway: Gateway, count: int, tokens: int = 0) -> int:
    """How many of `count` concurrent calls the gateway's limiter admits."""
    limiter, caller = gateway.services.guards.limits, root_caller(gateway)

    async def one() -> bool:
        try:
            await limiter.admit(caller, tokens)
        except RateLimited:
            return False
        return True

    async def many() -> int:
        return sum(await asyncio.gather(*(one() for _ in range(count))))

    return gateway.server.run(many())


def test_limits_set_through_the_api_apply_at_once(gateway: Gateway) -> None:
    [token] = [t for t in gateway.api("GET", "/api/token/") if t["key"] == ROOT_TOKEN]
    gateway.api("PUT", "/api/token/", json={"id": token["id"], "rpm_limit": 3})
    assert admits(gateway, 5) == 3
    gateway.api("PUT", "/api/option/", json={"key": "GroupRateLimit", "value": '{"default": {"user_tpm": 1000}}'})
    gateway.api("PUT", "/api/token/", json={"id": token["id"], "rpm_limit": 0})
    assert admits(gateway, 5, tokens=400) == 2  # the group's per-user tokens per minute now
    response = gateway.admin.put("/api/option/", json={"key": "GroupRateLimit", "value": '{"x" : {"rpm": 1}}'})
    assert response.json()["success"] is False and "unknown limit" in response.json()["message"]


def test_two_nodes_share_limits_through_redis(tmp_path: Path, redis_url: str) -> None:
    first = Gateway(settings_for(tmp_path, REDIS_CONN_STRING=redis_url))
    second = Gateway(settings_for(tmp_path, REDIS_CONN_STRING=redis_url, NODE_TYPE="slave"))
    try:
        first.api("PUT", "/api/option/", json={"key": "GroupRateLimit", "value": '{"default": {"token_rpm": 8}}'})
        second.server.run(second.services.keeper.reload())  # the other node sees the option
        counts = [admits(node, 10) for node in (first, second)]
        assert sum(counts) == 8 and counts[1] == 0
        with pytest.raises(RateLimited):
            second.server.run(second.services.guards.limits.admit(root_caller(second), 0))
    finally:
        second.close()
        first.close()
