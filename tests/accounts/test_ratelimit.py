"""Per-IP rate limits on /api (GLOBAL_API_RATE_LIMIT, CRITICAL_RATE_LIMIT), in memory and shared through Redis."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from tests.admin.support import data, refused
from tests.harness import ROOT_TOKEN, Gateway, settings_for


def from_ip(gateway: Gateway, ip: str) -> httpx.Client:
    """A client whose address, as the trusted local proxy reports it, is `ip`."""
    return httpx.Client(base_url=gateway.url, headers={"X-Forwarded-For": ip})


def random_ip() -> str:
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def assert_limited(response: httpx.Response, count: int, window: int) -> None:
    message = refused(response, 429, "too many", "try again in")
    assert f"at most {count} in {window} seconds" in message
    assert 1 <= int(response.headers["retry-after"]) <= window


def test_global_api_limit_per_address(tmp_path: Path) -> None:
    """The N+1th /api request from one address in 180 s gets 429; another address and /v1 are unaffected."""
    gateway = Gateway(settings_for(tmp_path, GLOBAL_API_RATE_LIMIT=5))
    try:
        with from_ip(gateway, "203.0.113.7") as client, from_ip(gateway, "203.0.113.8") as neighbour:
            for _ in range(5):
                data(client.get("/api/status"))
            assert_limited(client.get("/api/status"), 5, 180)
            assert_limited(client.get("/api/user/self"), 5, 180)
            data(neighbour.get("/api/status"))
            relay = client.get("/v1/models", headers={"Authorization": f"Bearer sk-{ROOT_TOKEN}"})
            assert relay.status_code == 200
        # IPv6 clients are counted by /64, so one subscriber cannot rotate addresses around the limit.
        with from_ip(gateway, "2001:db8::1") as first, from_ip(gateway, "2001:db8::ffff") as same_net:
            for _ in range(5):
                data(first.get("/api/status"))
            assert_limited(same_net.get("/api/status"), 5, 180)
    finally:
        gateway.close()


def test_critical_limit_on_sign_in(tmp_path: Path) -> None:
    """Sign-in, registration, verification, reset and OAuth share the critical limit; other routes do not count."""
    gateway = Gateway(settings_for(tmp_path, CRITICAL_RATE_LIMIT=3))
    try:
        with from_ip(gateway, "203.0.113.9") as client:
            for _ in range(3):
                refused(client.post("/api/user/login", json={"username": "root", "password": "wrong-password"}))
            for _ in range(5):
                data(client.get("/api/status"))
            assert_limited(client.post("/api/user/login", json={"username": "root", "password": "x"}), 3, 1200)
            assert_limited(client.get("/api/oauth/state"), 3, 1200)
            assert_limited(client.post("/api/user/register", json={}), 3, 1200)
            assert_limited(client.get("/api/verification", params={"email": "a@b.example"}), 3, 1200)
    finally:
        gateway.close()


@pytest.mark.parametrize("env", [{"GLOBAL_API_RATE_LIMIT": 0, "CRITICAL_RATE_LIMIT": 0},
                                 {"GLOBAL_API_RATE_LIMIT": 2, "CRITICAL_RATE_LIMIT": 1, "DEBUG": "true"}])
def test_limits_can_be_switched_off(tmp_path: Path, env: dict[str, object]) -> None:
    """A limit of 0, or DEBUG=true, turns the limits off, as in One API."""
    gateway = Gateway(settings_for(tmp_path, **env))
    try:
        with from_ip(gateway, "203.0.113.10") as client:
            for _ in range(4):
                data(client.get("/api/oauth/state"))
    finally:
        gateway.close()


def test_limits_are_shared_through_redis(tmp_path: Path, redis_url: str) -> None:
    """Two nodes on one Redis count one client's requests together."""
    first = Gateway(settings_for(tmp_path / "a", GLOBAL_API_RATE_LIMIT=4, REDIS_CONN_STRING=redis_url))
    second = Gateway(settings_for(tmp_path / "b", GLOBAL_API_RATE_LIMIT=4, REDIS_CONN_STRING=redis_url))
    ip = random_ip()
    try:
        with from_ip(first, ip) as one, from_ip(second, ip) as two:
            data(one.get("/api/status"))
            data(two.get("/api/status"))
            data(one.get("/api/status"))
            data(two.get("/api/status"))
            assert_limited(one.get("/api/status"), 4, 180)
            assert_limited(two.get("/api/status"), 4, 180)
        with from_ip(first, random_ip()) as other:
            data(other.get("/api/status"))
    finally:
        second.close()
        first.close()
