"""Channel health, relay rate limits and metrics: built once at startup, after the cache, keeper and accounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.limits.limiter import Limiter
from tollway.metrics.meters import Metrics
from tollway.routing.health import Health
from tollway.settings import Settings
from tollway.storage.keeper import Keeper


@dataclass
class Guards:
    """What the relay consults and reports to around each upstream call."""

    health: Health
    limits: Limiter
    metrics: Metrics


def open_guards(settings: Settings, keeper: Keeper, redis: Any | None, notify: Callable[[str, str], None]) -> Guards:
    """Build and start them; the relay and the keeper report to them (see the README's wiring notes).

    `redis` is the shared Redis client (REDIS_CONN_STRING) or None; `notify` tells the operator (operations/notices.py).
    """
    metrics = Metrics(shared_dir=settings.metrics_dir)
    health = Health(keeper, notify, watcher=metrics)
    limits = Limiter(keeper.cache, redis)
    metrics.watch("tollway_pairs_cooling", "(channel, model) pairs routing skips while they cool down",
                  lambda: sum(len(models) for models in health.pairs.cooling.values()))
    metrics.watch("tollway_channels_disabling", "Channels with a fatal error whose disable is being written",
                  lambda: len(health.down))
    metrics.watch("tollway_batch_queue_logs", "Log rows queued for the next batch write", lambda: keeper.pending_logs)
    metrics.watch("tollway_batch_queue_balances", "Users, tokens and channels with quota not yet written",
                  lambda: len(keeper.cache.dirty_users) + len(keeper.cache.dirty_tokens)
                  + len(keeper.cache.dirty_channels))
    health.start()
    limits.start()
    return Guards(health, limits, metrics)


async def close_guards(guards: Guards) -> None:
    """Write the channel disables still queued and settle rate-limit buckets (before the keeper closes)."""
    await guards.health.close()
    await guards.limits.close()
