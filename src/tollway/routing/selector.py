"""Channel selection: abilities (group × model → channels), highest priority first, weighted inside a tier."""

from __future__ import annotations

import bisect
import itertools
import random
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tollway.storage.cache import ChannelEntry

ENABLED = 1


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


def abilities(groups: Iterable[str], models: Iterable[str]) -> Iterable[tuple[str, str]]:
    """The (group, model) pairs a channel serves: the cross product of its groups and models."""
    models = list(models)
    for group in groups:
        for model in models:
            yield group, model


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
            if channel.status != ENABLED:
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

    def pick(self, group: str, model: str, exclude: Collection[int] = ()) -> ChannelEntry | None:
        """A channel for the request: from the highest tier with a channel not yet tried, by weight."""
        for tier in self._routes.get((group, model), ()):
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
