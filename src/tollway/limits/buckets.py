"""Per-minute limits as GCRA buckets (a token bucket kept as one number per key), in memory or in Redis.

Each bucket stores its "theoretical arrival time": the moment it would be full again. A request of `cost` units
on a bucket of `limit` per minute moves that time on by cost × 60/limit seconds, and is refused when the time
would run more than a minute ahead of now; it then knows exactly how long to wait. A whole minute's allowance
may be used at once, and refills evenly. Every bucket of a call is checked and charged together: all or none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

WINDOW_S = 60.0
_MAX_KEYS = 200_000

# (key, seconds per unit, units)
Charge = tuple[str, float, float]

# KEYS: the buckets; ARGV: per bucket its seconds per unit and the units, in milliseconds' terms.
# Answers {0, 0} when admitted, else {milliseconds to wait, 1-based index of the bucket that refused}.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = 60000
local arrivals = {}
local wait, culprit = 0, 0
for i = 1, #KEYS do
  local interval, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local arrival = tat + interval * cost
  local over = arrival - now - window
  if over > wait then wait, culprit = over, i end
  arrivals[i] = arrival
end
if culprit > 0 then return {math.ceil(wait), culprit} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', arrivals[i]), 'PX', math.ceil(arrivals[i] - now) + 1000)
end
return {0, 0}
"""

# KEYS: the buckets; ARGV: per bucket its milliseconds per unit and the units to add (negative gives back).
ADJUST_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  local interval, delta = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if delta > 0 and tat < now then tat = now end
  if delta > 0 or tat > now then
    local arrival = math.max(now, tat + interval * delta)
    redis.call('SET', KEYS[i], string.format('%.3f', arrival), 'PX', math.ceil(arrival - now) + 1000)
  end
end
return 0
"""


class MemoryBuckets:
    """The buckets of one process (no Redis, or Redis unreachable)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._arrivals: dict[str, float] = {}

    def take(self, charges: Sequence[Charge]) -> tuple[float, int]:
        """(0, -1) when every bucket admits the charge (and it is made), else (seconds to wait, refusing index)."""
        now = self.clock()
        arrivals = self._arrivals
        wait, culprit = 0.0, -1
        for index, (key, interval, cost) in enumerate(charges):
            arrival = max(arrivals.get(key, 0.0), now) + interval * cost
            over = arrival - now - WINDOW_S
            if over > wait:
                wait, culprit = over, index
        if culprit >= 0:
            return wait, culprit
        if len(arrivals) > _MAX_KEYS:
            self._forget_full(now)
        for key, interval, cost in charges:
            arrivals[key] = max(arrivals.get(key, 0.0), now) + interval * cost
        return 0.0, -1

    def adjust(self, charges: Sequence[Charge]) -> None:
        """Add units (a call used more than it was charged) or give them back (less, or it failed)."""
        now = self.clock()
        for key, interval, delta in charges:
            arrival = self._arrivals.get(key, 0.0)
            if delta > 0:
                self._arrivals[key] = max(arrival, now) + interval * delta
            elif arrival > now:
                self._arrivals[key] = max(now, arrival + interval * delta)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that are full again: they hold nothing a new one would not."""
        for key in [key for key, arrival in self._arrivals.items() if arrival <= now]:
            del self._arrivals[key]


class RedisBuckets:
    """The buckets shared by every node through Redis: one script call checks and charges them all."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._take = redis.register_script(TAKE_SCRIPT)
        self._adjust = redis.register_script(ADJUST_SCRIPT)

    async def take(self, charges: Sequence[Charge]) -> tuple[float, int]:
        keys = [key for key, _, _ in charges]
        args: list[float] = []
        for _, interval, cost in charges:
            args += [interval * 1000, cost]
        wait_ms, culprit = await self._take(keys=keys, args=args)
        return (float(wait_ms) / 1000, int(culprit) - 1) if int(culprit) else (0.0, -1)

    async def adjust(self, charges: Sequence[Charge]) -> None:
        keys = [key for key, _, _ in charges]
        args: list[float] = []
        for _, interval, delta in charges:
            args += [interval * 1000, delta]
        await self._adjust(keys=keys, args=args)
