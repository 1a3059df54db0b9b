"""Channel selection: abilities (group × model → channels), highest priority first, weighted inside a tier.

With channel health (routing/health.py) given, pairs cooling down and channels being disabled are skipped;
when every candidate is skipped, the one that failed least recently is tried rather than none.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from tollway.constants import ChannelStatus
from tollway.storage.cache import abilities

if TYPE_CHECKING:
    from tollway.routing.health import Health
    from tollway.storage.cache import ChannelEntry



@dataclass(frozen=True)
class Tier:
    """Channels of one priority for one (group, model), with their selection weights."""

    priority: int
    channels: tuple[ChannelEntry, ...]
    weights: tuple[int, ...]

    @cached_property
    def cumulative(self) -> tuple[int, ...]:
        return tuple(itertools.accumulate(self.weights))

    def draw(self) -> ChannelEntry:
        """A channel at random, in proportion to its weight."""
        if len(self.channels) == 1:
            return self.channels[0]
        cumulative = self.cumulative
        return self.channels[bisect.bisect(cumulative, random.random() * cumulative[-1])]


class RoutingTable:
    """An immutable index from (group, model) to priority tiers of enabled channels."""

    def __init__(self, routes: dict[tuple[str, str], tuple[Tier, ...]]) -> None:
        self._routes = routes
        models: dict[str, set[str]] = defaultdict(set)
        for group, model in routes:
            models[group].add(model)
        self._models = {group: sorted(names) for group, names in models.items()}

    @classmethod
    def build(cls, channels: Iterable[ChannelEntry]) -> RoutingTable:
        grouped: dict[tuple[str, str], dict[int, list[ChannelEntry]]] = defaultdict(lambda: defaultdict(list))
        for channel in channels:
            if channel.status != ChannelStatus.ENABLED:
                continue
            for pair in abilities(channel.groups, channel.models):
                grouped[pair][channel.priority].append(channel)
        routes = {}
        for pair, by_priority in grouped.items():
            tiers = []
            for priority in sorted(by_priority, reverse=True):
                members = tuple(sorted(by_priority[priority], key=lambda c: c.id))
                # One API stored weight 0 on every channel and ignored it; 0 counts as 1 so such
                # channels keep sharing traffic evenly.
                tiers.append(Tier(priority, members, tuple(max(1, c.weight) for c in members)))
            routes[pair] = tuple(tiers)
        return cls(routes)

    def pick(self, group: str, model: str, exclude: Collection[int] = (),
             health: Health | None = None) -> ChannelEntry | None:
        """A channel for the request: from the highest tier with a channel not yet tried, by weight."""
        tiers = self._routes.get((group, model), ())
        if health is not None and (health.active(model) or health.prefer_fast):
            return _pick_healthy(tiers, model, exclude, health)
        for tier in tiers:
            if not exclude:
                return tier.draw()
            left = [(c, w) for c, w in zip(tier.channels, tier.weights, strict=True) if c.id not in exclude]
            if left:
                return random.choices([c for c, _ in left], weights=[w for _, w in left])[0]
        return None

    def serves(self, group: str, model: str) -> bool:
        return (group, model) in self._routes

    def models(self, group: str) -> list[str]:
        """The models enabled for a group, sorted (One API's GetGroupModels)."""
        return self._models.get(group, [])

    def groups(self) -> list[str]:
        return sorted(self._models)


def _pick_healthy(tiers: tuple[Tier, ...], model: str, exclude: Collection[int], health: Health) -> ChannelEntry | None:
    """`pick` skipping what health blocks (weighing by speed when asked); the least recently failed as last resort."""
    now = health.clock()
    fast = health.prefer_fast
    skipped: list[ChannelEntry] = []
    for tier in tiers:
        left: list[ChannelEntry] = []
        weights: list[int] = []
        for channel, weight in zip(tier.channels, tier.weights, strict=True):
            if channel.id in exclude:
                continue
            if health.blocks(channel.id, model, now):
                skipped.append(channel)
                continue
            left.append(channel)
            weights.append(weight)
        if left:
            scaled = health.weights(left, weights, model) if fast and len(left) > 1 else weights
            chosen = random.choices(left, weights=scaled)[0]
            health.chosen(chosen.id, model)
            return chosen
    # Everything is cooling down: rather than no answer, try the pair whose last failure is oldest.
    candidates = [c for c in skipped if c.id not in health.down]
    if not candidates:
        return None
    chosen = min(candidates, key=lambda c: health.last_failure(c.id, model))
    health.chosen(chosen.id, model)
    return chosen
