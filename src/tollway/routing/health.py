"""Channel health: what the relay reports after each attempt, and what routing and the operator see of it.

`failed()` and `succeeded()` run on the request path and never await. A fatal error (routing/fatal.py) with
AutomaticDisableChannelEnabled on takes the channel out of routing at once and queues the write that disables
it (status 3, with reason and time) to a background task, which then notifies root. Other failures of the
channel's own making (5xx, timeouts, connection errors, 429, refusals of one model) count against the
(channel, model) pair (routing/pairs.py); errors of the request (400) count against nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tollway.constants import ChannelStatus
from tollway.errors import UpstreamError
from tollway.options import Options
from tollway.routing.fatal import Verdict, fatal
from tollway.routing.pairs import Pair, PairBook, Rules
from tollway.storage import writes
from tollway.storage.cache import ChannelEntry
from tollway.storage.keeper import Keeper

log = logging.getLogger(__name__)

_WRITE_TRIES = 5
_SLOWEST_FACTOR = 0.1  # a slow channel keeps at least this share of its weight, so it is still measured


class Watcher(Protocol):
    """What health tells the metrics (tollway.metrics.meters.Metrics has these methods)."""

    def upstream_error(self, kind: str) -> None: ...

    def channel_disabled(self) -> None: ...


def counts_against_pair(error: UpstreamError) -> bool:
    """True for failures of the channel (5xx, 429, timeouts, refusals): not for the caller's own bad request."""
    return error.retryable and error.code != "unsupported_by_channel"


def error_kind(error: UpstreamError) -> str:
    """A short label of an upstream failure for metrics: timeout, connection, 5xx, 429, 4xx."""
    code = error.code or ""
    if code in ("upstream_timeout", "upstream_task_timeout") or error.status_code == 504:
        return "timeout"
    if code in ("upstream_unreachable", "upstream_read_error"):
        return "connection"
    if error.status_code == 429:
        return "rate_limited"
    if error.status_code >= 500:
        return "server_error"
    return "client_error"


class Health:
    """Per-process channel health; built once at startup (tollway.guards) and shared by routing and the relay."""

    def __init__(self, keeper: Keeper, notify: Callable[[str, str], None], *, watcher: Watcher | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keeper = keeper
        self.cache = keeper.cache
        self.notify = notify
        self.watcher = watcher
        self.clock = clock
        self.pairs = PairBook(clock)
        # Channels with a fatal error whose disable is queued: routing skips them until the write lands.
        self.down: set[int] = set()
        self._queue: asyncio.Queue[tuple[ChannelEntry, Verdict]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._options: Options | None = None
        self._rules: Rules | None = None

    # -- the options, read again only when they change ------------------------------------------------------

    @property
    def rules(self) -> Rules:
        options = self.cache.options
        if options is not self._options or self._rules is None:
            self._options, self._rules = options, Rules.of(options)
        return self._rules

    @property
    def prefer_fast(self) -> bool:
        return self.cache.options.flag("ChannelPreferFastEnabled")

    # -- what the relay reports -------------------------------------------------------------------------------

    def succeeded(self, channel: ChannelEntry, model: str, first_byte_ms: float = 0.0) -> None:
        """A call on `channel` for `model` (the name the caller asked for) succeeded."""
        if self.pairs.succeeded(channel.id, model, self.rules, first_byte_ms):
            log.info("channel %s (#%s) serves %s again; its cool-down is over", channel.name, channel.id, model)

    def probe_passed(self, channel: ChannelEntry, model: str) -> None:
        """A channel test of `model` passed: the probe that ends the pair's cool-down early."""
        if self.pairs.probe_passed(channel.id, model):
            log.info("channel %s (#%s) passed its test and serves %s again", channel.name, channel.id, model)

    def failed(self, channel: ChannelEntry, model: str, error: UpstreamError) -> Verdict | None:
        """An attempt on `channel` for `model` failed; answers the verdict when the error is fatal."""
        if self.watcher is not None:
            self.watcher.upstream_error(error_kind(error))
        verdict = fatal(error, channel.type)
        if verdict is not None and self.cache.options.flag("AutomaticDisableChannelEnabled"):
            self.disable(channel, verdict)
            return verdict
        if counts_against_pair(error):
            reason = f"{error.status_code} {error.code or ''}: {error.message}".strip()
            if self.pairs.failed(channel.id, model, self.rules, reason):
                log.warning("channel %s (#%s) steps aside for %s: %s", channel.name, channel.id, model, reason)
        return verdict

    def disable(self, channel: ChannelEntry, verdict: Verdict) -> None:
        """Take the channel out of routing now and queue the write that disables it."""
        if channel.id in self.down or channel.status != ChannelStatus.ENABLED:
            return
        self.down.add(channel.id)
        self._queue.put_nowait((channel, verdict))
        log.warning("channel %s (#%s) will be disabled: %s", channel.name, channel.id, verdict.reason)

    # -- routing ----------------------------------------------------------------------------------------------

    def active(self, model: str) -> bool:
        """Whether routing must look closer for this model (a channel is going down or a pair is cooling)."""
        return bool(self.down) or model in self.pairs.cooling

    def blocks(self, channel_id: int, model: str, now: float) -> bool:
        if channel_id in self.down:
            return True
        cooling = self.pairs.cooling.get(model)
        if cooling is None:
            return False
        pair = cooling.get(channel_id)
        return pair is not None and pair.blocks(now, self.rules.trial_patience)

    def chosen(self, channel_id: int, model: str) -> None:
        """Routing picked this pair; if it is cooling down, the call is its trial."""
        cooling = self.pairs.cooling.get(model)
        pair = cooling.get(channel_id) if cooling is not None else None
        if pair is not None:
            self.pairs.chosen(pair)

    def last_failure(self, channel_id: int, model: str) -> float:
        pair = self.pairs.find(channel_id, model)
        return pair.last_failure if pair is not None else 0.0

    def weights(self, channels: Sequence[ChannelEntry], weights: Sequence[int], model: str) -> list[float]:
        """Weights scaled by recent first-byte time against the tier's fastest (channels not measured keep theirs)."""
        times = [self.pairs.first_byte_ms(c.id, model) for c in channels]
        measured = [t for t in times if t > 0]
        if not measured:
            return [float(w) for w in weights]
        best = min(measured)
        return [w * (max(_SLOWEST_FACTOR, best / t) if t > 0 else 1.0) for w, t in zip(weights, times, strict=True)]

    # -- the background writer ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="tollway-channel-health")

    async def close(self) -> None:
        """Write the disables still queued (briefly), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), 5)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _write_loop(self) -> None:
        while True:
            channel, verdict = await self._queue.get()
            try:
                await self._write_disable(channel, verdict)
            finally:
                self._queue.task_done()

    async def _write_disable(self, channel: ChannelEntry, verdict: Verdict) -> None:
        for attempt in range(_WRITE_TRIES):
            try:
                row = await writes.set_channel_status(self.keeper, channel.id, ChannelStatus.AUTO_DISABLED,
                                                      verdict.reason, only_from=(ChannelStatus.ENABLED,))
                break
            except Exception:
                log.exception("disabling channel %s failed (attempt %d)", channel.id, attempt + 1)
                await asyncio.sleep(min(30.0, 2.0 ** attempt))
        else:
            return  # the database is down: the channel stays out of this node's routing (it is still in `down`)
        self.down.discard(channel.id)
        if row is None:
            return  # deleted, or switched off by an operator meanwhile
        if self.watcher is not None:
            self.watcher.channel_disabled()
        self.notify(f"Channel {channel.name} (#{channel.id}) was disabled",
                    f"Channel {channel.name} (#{channel.id}) was disabled automatically: {verdict.reason}")

    # -- what the operator sees ---------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Pairs cooling down (since when, until when, why) and channels whose disable is being written."""
        now, wall = self.clock(), time.time()
        names = {channel_id: channel.name for channel_id, channel in self.cache.channels.items()}
        cooling = []
        for pair in sorted(self.pairs.cooling_pairs(), key=lambda p: (p.channel_id, p.model)):
            cooling.append({**pair.view(now, wall), "channel_name": names.get(pair.channel_id, "")})
        return {"cooling": cooling, "disabling": sorted(self.down), "rules": self.rules_view()}

    def rules_view(self) -> dict[str, Any]:
        rules = self.rules
        return {"enabled": rules.enabled, "window": rules.window, "min_calls": rules.min_calls,
                "failure_rate": rules.failure_rate, "cooldown": rules.base, "max_cooldown": rules.longest}

    def cooling_for(self, channel_id: int) -> list[Pair]:
        return [pair for pair in self.pairs.cooling_pairs() if pair.channel_id == channel_id]

    def clear(self, channel_id: int, model: str | None = None) -> int:
        """Forget a channel's pair health (an operator fixed it, or it was enabled again); answers how many cooled."""
        return self.pairs.clear(channel_id, model)
