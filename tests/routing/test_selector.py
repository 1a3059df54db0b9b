"""Channel selection: tiers by priority, weights inside a tier, exclusion of channels already tried."""

from __future__ import annotations

from collections import Counter

from tests.relay.adaptors.test_openai import channel
from tollway.routing.selector import RoutingTable


def test_top_tier_then_lower_tiers_after_failures() -> None:
    high, low = channel(1, priority=10, id=1, models=["m"]), channel(1, priority=0, id=2, models=["m"])
    table = RoutingTable.build([high, low])
    assert table.pick("default", "m") is high
    assert table.pick("default", "m", exclude={1}) is low
    assert table.pick("default", "m", exclude={1, 2}) is None
    assert table.pick("vip", "m") is None


def test_weight_zero_counts_as_one_and_weights_split_traffic() -> None:
    a = channel(1, id=1, models=["m"], weight=0)
    b = channel(1, id=2, models=["m"], weight=0)
    c = channel(1, id=3, models=["m"], weight=8)
    table = RoutingTable.build([a, b, c])
    counts = Counter(table.pick("default", "m").id for _ in range(5000))
    assert 350 < counts[1] < 900 and 350 < counts[2] < 900 and counts[3] > 3500


def test_disabled_channels_and_group_model_lists() -> None:
    on = channel(1, id=1, models=["a", "b"], groups=["default", "vip"])
    off = channel(1, id=2, models=["c"], status=2)
    table = RoutingTable.build([on, off])
    assert table.models("vip") == ["a", "b"] and table.models("default") == ["a", "b"]
    assert not table.serves("default", "c")
