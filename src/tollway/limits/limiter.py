"""The relay's rate limiter: `admit` before the upstream call, `spent` after it, no database round trip.

With REDIS_CONN_STRING the buckets live in Redis, shared by every node (one script call per admitted request;
a bucket that refused is remembered locally until it can admit again, so a client hammering a full limit costs
no Redis call). Without Redis, or while Redis fails, each process counts in memory. Calls on which no limit is
set pass without any work beyond one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tollway.errors import RateLimited
from tollway.limits.buckets import Charge, MemoryBuckets, RedisBuckets
from tollway.limits.rules import REQUESTS, TOKENS, Limit, limits_of
from tollway.storage.cache import Cache

if TYPE_CHECKING:
    from tollway.relay.auth import Caller

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.5  # a slow Redis must not hold calls: past this the call is counted in memory
REDIS_RETRY_S = 5.0  # after a Redis failure, count in memory this long before trying Redis again
_BLOCKED_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Ticket:
    """What `admit` charged to token buckets, so `spent` can settle the difference with the real count."""

    charges: tuple[Charge, ...]
    shared: bool


class Limiter:
    """Per-minute request and token limits of tokens, users and groups; built once at startup."""

    def __init__(self, cache: Cache, redis: Any | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cache = cache
        self.clock = clock
        self.memory = MemoryBuckets(clock)
        self.shared = RedisBuckets(redis) if redis is not None else None
        self._redis_down_until = 0.0
        self._blocked: dict[str, float] = {}  # bucket key → when it admits again (seen from Redis)
        self._pending: dict[str, list[float]] = {}  # bucket key → [seconds per unit, units] to settle in Redis
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def admit(self, caller: Caller, estimated_tokens: int | Callable[[], int]) -> Ticket | None:
        """Charge the call to every bucket that limits it, or raise RateLimited (429 with Retry-After).

        `estimated_tokens` may be a function: it is called only when a token bucket needs the figure.
        """
        limits = limits_of(self.cache.options, caller.token, caller.user)
        if not limits:
            return None
        if callable(estimated_tokens):
            estimated_tokens = estimated_tokens() if any(limit.unit == TOKENS for limit in limits) else 0
        charges = [(limit.key, 60.0 / limit.per_minute,
                    1.0 if limit.unit == REQUESTS else float(min(max(estimated_tokens, 0), limit.per_minute)))
                   for limit in limits]
        now = self.clock()
        shared = self.shared is not None and now >= self._redis_down_until
        if shared:
            for limit in limits:
                until = self._blocked.get(limit.key, 0.0)
                if until > now:
                    raise _refusal(limit, until - now)
            wait, culprit = await self._take_shared(charges)
            shared = culprit != -2
        if not shared:
            wait, culprit = self.memory.take(charges)
        if culprit >= 0:
            if shared:
                self._remember_refusal(limits[culprit].key, now + wait)
            raise _refusal(limits[culprit], wait)
        kept = tuple(charge for charge, limit in zip(charges, limits, strict=True) if limit.unit == TOKENS)
        return Ticket(kept, shared) if kept else None

    async def _take_shared(self, charges: list[Charge]) -> tuple[float, int]:
        """The Redis answer, or (0, -2) when Redis failed and the call must be counted in memory."""
        assert self.shared is not None
        try:
            return await asyncio.wait_for(self.shared.take(charges), REDIS_TIMEOUT_S)
        except Exception as exc:  # Redis down or slow: the limits still hold, per node, rather than failing calls
            log.warning("relay rate limits counted in memory for %.0f s: Redis failed (%r)", REDIS_RETRY_S, exc)
            self._redis_down_until = self.clock() + REDIS_RETRY_S
            return 0.0, -2

    def _remember_refusal(self, key: str, until: float) -> None:
        if len(self._blocked) >= _BLOCKED_MAX:
            now = self.clock()
            self._blocked = {k: v for k, v in self._blocked.items() if v > now}
        self._blocked[key] = until

    def spent(self, ticket: Ticket | None, tokens: int) -> None:
        """Settle a call's token buckets with what it really used (0 when it failed); never waits."""
        if ticket is None:
            return
        deltas = [(key, interval, tokens - reserved) for key, interval, reserved in ticket.charges
                  if tokens != reserved]
        if not deltas:
            return
        if not ticket.shared or self.shared is None:
            self.memory.adjust(deltas)
            return
        for key, interval, delta in deltas:
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = [interval, delta]
            else:
                pending[1] += delta
        self._wake.set()

    # -- settling in Redis, off the request path ----------------------------------------------------------------

    def start(self) -> None:
        if self.shared is not None:
            self._task = asyncio.create_task(self._settle_loop(), name="tollway-rate-limits")

    async def _settle_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.settle()

    async def settle(self) -> None:
        """Send the adjustments gathered since the last call to Redis (dropped if Redis fails: they are small)."""
        if not self._pending or self.shared is None:
            return
        batch, self._pending = self._pending, {}
        try:
            await asyncio.wait_for(self.shared.adjust([(key, i, d) for key, (i, d) in batch.items() if d]), 2.0)
        except Exception as exc:
            log.warning("could not settle %d rate-limit buckets in Redis: %r", len(batch), exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.settle()


def _refusal(limit: Limit, wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    return RateLimited(f"Rate limit reached for {limit.describe()}. Please try again in {seconds}s.",
                       code="rate_limit_exceeded", retry_after=seconds, error_type=limit.unit)
