"""Channel health, relay rate limits and metrics: built once at startup, after the cache, keeper and accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tollway.limits.limiter import Limiter
from tollway.metrics.meters import Metrics
from tollway.operations import notices
from tollway.routing.health import Health

if TYPE_CHECKING:
    from tollway.services import Services


@dataclass
class Guards:
    """What the relay consults and reports to around each upstream call."""

    health: Health
    limits: Limiter
    metrics: Metrics


def open_guards(services: Services) -> Guards:
    """Build and start them; the relay and the keeper report to them (see the README's wiring notes)."""
    metrics = Metrics(shared_dir=services.settings.metrics_dir)
    health = Health(services.keeper, lambda title, content: notices.notify(services, title, content), watcher=metrics)
    limits = Limiter(services.cache, services.accounts.redis)
    keeper = services.keeper
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
