"""Per (channel, model) health: a sliding window of calls and failures, cool-downs that grow, one trial call.

A pair whose failure rate over the window crosses the threshold (with enough calls behind it), or that failed
that many times in a row, cools down: routing skips it until the cool-down ends, then lets one call through
(half-open). A success brings the pair back; a failure cools it down again for twice as long, up to the maximum.
Other models of the same channel are not affected. Everything here is plain bookkeeping on monotonic time,
called from the event loop without awaiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.options import Options

SLICES = 6  # the window is kept as this many slices, so old calls leave it a slice at a time
EWMA_WEIGHT = 0.2  # how much one call moves the recent first-byte time


@dataclass(frozen=True, slots=True)
class Rules:
    """The cool-down options, read once per change of the options."""

    enabled: bool
    window: float
    min_calls: int
    failure_rate: float
    base: float
    longest: float

    @classmethod
    def of(cls, options: Options) -> Rules:
        base = float(options.whole("ChannelCooldownSeconds"))
        return cls(options.flag("ChannelCooldownEnabled"), float(options.whole("ChannelCooldownWindow")),
                   options.whole("ChannelCooldownMinCalls"), options.number("ChannelCooldownFailureRate"),
                   base, max(base, float(options.whole("ChannelCooldownMaxSeconds"))))

    def cooldown(self, strikes: int) -> float:
        return min(self.longest, self.base * float(2 ** min(strikes - 1, 30)))

    @property
    def trial_patience(self) -> float:
        """How long a trial call may take before another one is let through (it may never report back)."""
        return max(60.0, self.base)


class Pair:
    """What is known about one channel serving one model."""

    __slots__ = ("calls", "channel_id", "cooling", "failures", "first_byte_ms", "last_failure", "model", "reason",
                 "recovered_at", "since", "slice_s", "slot", "streak", "strikes", "trial_at", "until", "wall_since")

    def __init__(self, channel_id: int, model: str) -> None:
        self.channel_id = channel_id
        self.model = model
        self.calls = [0] * SLICES
        self.failures = [0] * SLICES
        self.slot = 0  # number of the newest slice since the epoch of the monotonic clock
        self.slice_s = 0.0
        self.streak = 0  # failures in a row
        self.cooling = False
        self.since = 0.0  # monotonic start of the current cool-down
        self.wall_since = 0.0
        self.until = 0.0  # monotonic end of the current cool-down
        self.trial_at = 0.0  # when the trial call was let through (0: none in flight)
        self.strikes = 0  # cool-downs in a row; each doubles the next
        self.recovered_at = 0.0
        self.last_failure = 0.0
        self.reason = ""
        self.first_byte_ms = 0.0  # recent first-byte time (moving average), 0 when unknown

    def _advance(self, now: float, slice_s: float) -> int:
        """Move the window to `now`, emptying slices that fell out of it; answers the current slice index."""
        slot = int(now / slice_s)
        if slice_s != self.slice_s or slot - self.slot >= SLICES:
            self.calls[:] = [0] * SLICES
            self.failures[:] = [0] * SLICES
            self.slice_s = slice_s
        else:
            for step in range(self.slot + 1, slot + 1):
                self.calls[step % SLICES] = 0
                self.failures[step % SLICES] = 0
        self.slot = max(self.slot, slot)
        return slot % SLICES

    def count(self, now: float, slice_s: float, failed: bool) -> None:
        index = self._advance(now, slice_s)
        self.calls[index] += 1
        if failed:
            self.failures[index] += 1
            self.streak += 1
            self.last_failure = now
        else:
            self.streak = 0

    def totals(self) -> tuple[int, int]:
        return sum(self.calls), sum(self.failures)

    def blocks(self, now: float, patience: float) -> bool:
        """True while routing must skip the pair: cooling down, or its trial call is still out."""
        return self.cooling and (now < self.until or (self.trial_at > 0 and now - self.trial_at < patience))

    def view(self, now: float, wall: float) -> dict[str, Any]:
        calls, failures = self.totals()
        return {"channel_id": self.channel_id, "model": self.model, "since": int(self.wall_since),
                "until": int(wall + max(0.0, self.until - now)), "strikes": self.strikes, "reason": self.reason,
                "calls": calls, "failures": failures, "trial": self.trial_at > 0,
                "first_byte_ms": round(self.first_byte_ms)}


class PairBook:
    """Every pair seen since start, and an index of the cooling ones by model for the routing table."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._pairs: dict[int, dict[str, Pair]] = {}
        # model → channel id → pair, only for pairs cooling down; a model with none has no key, so routing asks
        # one dict membership per call and allocates nothing while all is well.
        self.cooling: dict[str, dict[int, Pair]] = {}

    def pair(self, channel_id: int, model: str) -> Pair:
        models = self._pairs.get(channel_id)
        if models is None:
            models = self._pairs[channel_id] = {}
        found = models.get(model)
        if found is None:
            found = models[model] = Pair(channel_id, model)
        return found

    def find(self, channel_id: int, model: str) -> Pair | None:
        models = self._pairs.get(channel_id)
        return models.get(model) if models is not None else None

    def succeeded(self, channel_id: int, model: str, rules: Rules, first_byte_ms: float = 0.0) -> bool:
        """Count a success; answers True when it ended a cool-down (the trial passed)."""
        pair = self.pair(channel_id, model)
        now = self.clock()
        pair.count(now, rules.window / SLICES, False)
        if first_byte_ms > 0:
            pair.first_byte_ms = first_byte_ms if not pair.first_byte_ms else (
                pair.first_byte_ms + EWMA_WEIGHT * (first_byte_ms - pair.first_byte_ms))
        if pair.cooling and (pair.trial_at > 0 or now >= pair.until):
            self._recover(pair, now)
            return True
        return False

    def failed(self, channel_id: int, model: str, rules: Rules, reason: str) -> bool:
        """Count a failure; answers True when it started (or renewed) a cool-down."""
        pair = self.pair(channel_id, model)
        now = self.clock()
        pair.count(now, rules.window / SLICES, True)
        if not rules.enabled:
            return False
        if pair.cooling:
            if now < pair.until and not pair.trial_at:
                return False  # a call that began before the cool-down: it adds nothing
            self._trip(pair, now, rules, reason)  # the call let through failed
            return True
        calls, failures = pair.totals()
        if pair.streak >= rules.min_calls or (calls >= rules.min_calls and failures >= rules.failure_rate * calls):
            if now - pair.recovered_at > rules.longest:
                pair.strikes = 0  # it has been healthy for a while: start again from the shortest cool-down
            self._trip(pair, now, rules, reason)
            return True
        return False

    def _trip(self, pair: Pair, now: float, rules: Rules, reason: str) -> None:
        pair.strikes += 1
        pair.cooling, pair.trial_at = True, 0.0
        pair.since, pair.wall_since = now, time.time()
        pair.until = now + rules.cooldown(pair.strikes)
        pair.reason = reason[:300]
        pair.calls[:] = [0] * SLICES
        pair.failures[:] = [0] * SLICES
        pair.streak = 0
        self.cooling.setdefault(pair.model, {})[pair.channel_id] = pair

    def probe_passed(self, channel_id: int, model: str) -> bool:
        """A channel test of the pair passed: it serves again at once; answers whether it was cooling."""
        pair = self.find(channel_id, model)
        if pair is None or not pair.cooling:
            return False
        self._recover(pair, self.clock())
        return True

    def _recover(self, pair: Pair, now: float) -> None:
        pair.cooling, pair.trial_at, pair.recovered_at, pair.streak = False, 0.0, now, 0
        self._unindex(pair)

    def _unindex(self, pair: Pair) -> None:
        models = self.cooling.get(pair.model)
        if models is not None:
            models.pop(pair.channel_id, None)
            if not models:
                del self.cooling[pair.model]

    def chosen(self, pair: Pair) -> None:
        """Routing let a call through to a cooling pair (its trial, or the last resort): that call decides."""
        if pair.cooling:
            pair.trial_at = self.clock()

    def clear(self, channel_id: int, model: str | None = None) -> int:
        """Forget the health of a channel's pairs (all, or one model's); answers how many were cooling."""
        models = self._pairs.get(channel_id, {})
        cleared = 0
        for name in [model] if model is not None else list(models):
            pair = models.pop(name, None)
            if pair is not None and pair.cooling:
                self._unindex(pair)
                cleared += 1
        if not models:
            self._pairs.pop(channel_id, None)
        return cleared

    def cooling_pairs(self) -> list[Pair]:
        return [pair for models in self.cooling.values() for pair in models.values()]

    def first_byte_ms(self, channel_id: int, model: str) -> float:
        pair = self.find(channel_id, model)
        return pair.first_byte_ms if pair is not None else 0.0
