"""One API's per-IP rate limits on /api: a sliding log of request times, in Redis when configured, else in memory.

GA: GLOBAL_API_RATE_LIMIT requests per 180 s on every /api route; CT: CRITICAL_RATE_LIMIT per 1200 s on sign-in,
registration, verification, reset and OAuth. A limit of 0, or DEBUG=true, turns a limit off (as in One API).
Refused requests are not counted, so a client that waits gets in again when its oldest request leaves the window.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from tollway.console.i18n import language_of, translate_message

log = logging.getLogger(__name__)

GLOBAL_API_WINDOW_S = 180
CRITICAL_WINDOW_S = 20 * 60
# Routes One API puts behind CriticalRateLimit (paths under /api, without a trailing slash).
CRITICAL_PATHS = frozenset({
    "/user/login", "/user/register", "/user/reset", "/verification", "/reset_password",
    "/oauth/state", "/oauth/github", "/oauth/oidc", "/oauth/lark", "/oauth/wechat", "/oauth/wechat/bind",
    "/oauth/email/bind",
})
_REDIS_RETRY_S = 5.0  # after a Redis error, count in memory for this long before trying Redis again
_MEMORY_KEYS_MAX = 100_000

# KEYS[1] the log; ARGV: limit, window (ms). Returns 0 when admitted, else the milliseconds until a slot frees.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('LLEN', KEYS[1]) >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], limit - 1))
  if oldest and now - oldest < window then
    redis.call('PEXPIRE', KEYS[1], window)
    return window - (now - oldest)
  end
end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


@dataclass(frozen=True)
class Limit:
    mark: str  # One API's key marks: GA (global API), CT (critical)
    count: int
    window_s: int


def client_key(host: str) -> str:
    """The address a limit counts: the client's IPv4 address, or its IPv6 /64 (one subscriber's whole network)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """Admits or refuses one request against one limit for one client."""

    def __init__(self, redis: Any | None = None) -> None:
        self.redis = redis
        self._logs: dict[str, deque[float]] = {}
        self._redis_down_until = 0.0

    async def admit(self, limit: Limit, client: str) -> float:
        """0 when the request is admitted, else the seconds until it would be."""
        key = f"rateLimit:{limit.mark}{client}"
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                wait_ms = await self.redis.eval(_SLIDING_LOG, 1, key, limit.count, limit.window_s * 1000)
                return float(wait_ms) / 1000
            except Exception as exc:  # Redis down: limits still hold, per node, rather than failing /api
                log.warning("rate limiting in memory for %.0f s: Redis failed (%r)", _REDIS_RETRY_S, exc)
                self._redis_down_until = time.monotonic() + _REDIS_RETRY_S
        return self._admit_in_memory(key, limit)

    def _admit_in_memory(self, key: str, limit: Limit) -> float:
        now = time.monotonic()
        times = self._logs.get(key)
        if times is None:
            if len(self._logs) >= _MEMORY_KEYS_MAX:
                self._forget_idle(now)
            times = self._logs[key] = deque(maxlen=limit.count)
        if len(times) >= limit.count:
            waited = now - times[0]
            if waited < limit.window_s:
                return limit.window_s - waited
        times.append(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop clients whose latest request is older than the longest window."""
        horizon = now - CRITICAL_WINDOW_S
        for key in [k for k, times in self._logs.items() if not times or times[-1] < horizon]:
            del self._logs[key]


def limits_for(path: str, *, api: int, critical: int, debug: bool) -> list[Limit]:
    """The limits that apply to an /api path, in the order One API checks them."""
    if debug:
        return []
    found = []
    if api > 0:
        found.append(Limit("GA", api, GLOBAL_API_WINDOW_S))
    if critical > 0 and path.rstrip("/") in CRITICAL_PATHS:
        found.append(Limit("CT", critical, CRITICAL_WINDOW_S))
    return found


class RateLimitMiddleware:
    """Applies the per-IP limits to the /api mount; a refused request gets 429 in One API's envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        settings = services.settings
        path = scope.get("path", "")[len(scope.get("root_path", "")):] or "/"
        limits = limits_for(path, api=settings.global_api_rate_limit, critical=settings.critical_rate_limit,
                            debug=settings.debug)
        if limits:
            client = client_key(scope["client"][0] if scope.get("client") else "")
            for limit in limits:
                wait = await services.accounts.limiter.admit(limit, client)
                if wait > 0:
                    await _refuse(send, limit, wait, language_of(HTTPConnection(scope)))
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Send, limit: Limit, wait: float, language: str) -> None:
    seconds = max(1, math.ceil(wait))
    scope_name = "sign-in, registration and verification requests" if limit.mark == "CT" else "requests"
    message = (f"too many {scope_name} from your address (at most {limit.count} in {limit.window_s} seconds); "
               f"try again in {seconds} seconds")
    body = orjson.dumps({"success": False, "message": translate_message(message, language)})
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(seconds).encode())]})
    await send({"type": "http.response.body", "body": body})
