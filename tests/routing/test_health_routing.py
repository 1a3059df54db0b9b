"""Routing with channel health: cooling pairs and channels going down are skipped, the least recently failed pair is
the last resort, other models keep their channels, and fast channels may be favoured inside a tier."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from tests.relay.adaptors.test_openai import channel
from tests.routing.test_pairs import Clock
from tollway.crypto import KeyBox
from tollway.errors import UpstreamError
from tollway.options import Options
from tollway.routing.fatal import fatal
from tollway.routing.health import Health, counts_against_pair, error_kind
from tollway.routing.selector import RoutingTable
from tollway.storage.cache import Cache

SERVER_ERROR = UpstreamError("mock failure 500", status_code=500, code="upstream_500", retryable=True)
REVOKED = UpstreamError("Incorrect API key provided", status_code=401, code="invalid_api_key", retryable=True)


def health_with(**options: str) -> tuple[Health, Clock]:
    cache = Cache(KeyBox(b"k" * 32))
    cache.options = Options({"ChannelCooldownMinCalls": "3", **options})
    clock = Clock()
    keeper: Any = SimpleNamespace(cache=cache)  # routing never writes; the disable writer has its own tests
    return Health(keeper, lambda title, content: None, clock=clock), clock


def trip(health: Health, entry: Any, model: str) -> None:
    for _ in range(3):
        health.failed(entry, model, SERVER_ERROR)


def test_a_cooling_pair_is_skipped_for_its_model_only() -> None:
    health, _ = health_with()
    a, b = channel(1, id=1, models=["m", "n"]), channel(1, id=2, models=["m", "n"])
    table = RoutingTable.build([a, b])
    trip(health, a, "m")
    assert {table.pick("default", "m", health=health).id for _ in range(50)} == {2}
    assert {table.pick("default", "n", health=health).id for _ in range(200)} == {1, 2}


def test_a_lower_tier_serves_while_the_top_tier_cools_down() -> None:
    health, _ = health_with()
    high, low = channel(1, id=1, priority=10, models=["m"]), channel(1, id=2, priority=0, models=["m"])
    table = RoutingTable.build([high, low])
    trip(health, high, "m")
    assert table.pick("default", "m", health=health) is low
    assert table.pick("default", "m", exclude={2}, health=health) is high  # last resort: never no answer


def test_when_every_pair_cools_down_the_least_recently_failed_is_tried() -> None:
    health, clock = health_with()
    a, b, c = (channel(1, id=i, models=["m"]) for i in (1, 2, 3))
    table = RoutingTable.build([a, b, c])
    for entry in (b, a, c):  # b failed first, so it has rested longest
        trip(health, entry, "m")
        clock.now += 1
    chosen = table.pick("default", "m", health=health)
    assert chosen is b
    assert health.pairs.cooling["m"][2].trial_at > 0  # that call decides for the pair
    health.succeeded(b, "m")
    assert 2 not in health.pairs.cooling.get("m", {})


def test_a_pair_comes_back_after_its_cool_down_with_one_trial() -> None:
    health, clock = health_with(ChannelCooldownSeconds="30")
    a, b = channel(1, id=1, models=["m"]), channel(1, id=2, models=["m"])
    table = RoutingTable.build([a, b])
    trip(health, a, "m")
    clock.now += 30
    picks = Counter(table.pick("default", "m", health=health).id for _ in range(200))
    assert picks[1] == 1  # exactly one trial while it is out
    health.succeeded(a, "m", 50)
    picks = Counter(table.pick("default", "m", health=health).id for _ in range(400))
    assert picks[1] > 100 and picks[2] > 100


def test_a_fatal_error_takes_the_channel_out_of_routing_at_once() -> None:
    health, _ = health_with(AutomaticDisableChannelEnabled="true")
    a, b = channel(1, id=1, models=["m", "n"]), channel(1, id=2, models=["m"])
    table = RoutingTable.build([a, b])
    verdict = health.failed(a, "m", REVOKED)
    assert verdict is not None and health.down == {1}
    assert health._queue.qsize() == 1  # the disable is queued for the background writer, not awaited
    health.failed(a, "m", REVOKED)
    assert health._queue.qsize() == 1  # once per channel
    assert {table.pick("default", "m", health=health).id for _ in range(50)} == {2}
    assert table.pick("default", "n", health=health) is None  # no other channel, and a dead key is no last resort


def test_without_automatic_disabling_a_fatal_error_only_benches_the_pair() -> None:
    health, _ = health_with()
    a = channel(1, id=1, models=["m"])
    for _ in range(3):
        assert health.failed(a, "m", REVOKED) is not None
    assert not health.down and 1 in health.pairs.cooling["m"]


def test_request_errors_count_against_nothing() -> None:
    health, _ = health_with()
    a = channel(1, id=1, models=["m"])
    bad_request = UpstreamError("Invalid value for temperature", status_code=400, code="upstream_400")
    unsupported = UpstreamError("no embeddings here", status_code=400, code="unsupported_by_channel", retryable=True)
    for _ in range(10):
        health.failed(a, "m", bad_request)
        health.failed(a, "m", unsupported)
    assert not health.pairs.cooling and not counts_against_pair(bad_request) and fatal(bad_request, 1) is None


def test_prefer_fast_moves_traffic_to_the_faster_channel_of_a_tier() -> None:
    health, _ = health_with(ChannelPreferFastEnabled="true")
    fast, slow, new = (channel(1, id=i, models=["m"]) for i in (1, 2, 3))
    table = RoutingTable.build([fast, slow])
    health.succeeded(fast, "m", 100)
    health.succeeded(slow, "m", 1000)
    picks = Counter(table.pick("default", "m", health=health).id for _ in range(3000))
    assert picks[1] > 2400 and picks[2] > 50  # 10:1, yet the slow one is still measured
    assert health.weights([fast, slow, new], [1, 1, 1], "m") == [1.0, 0.1, 1.0]


def test_prefer_fast_is_off_by_default() -> None:
    health, _ = health_with()
    fast, slow = (channel(1, id=i, models=["m"]) for i in (1, 2))
    table = RoutingTable.build([fast, slow])
    health.succeeded(fast, "m", 100)
    health.succeeded(slow, "m", 5000)
    picks = Counter(table.pick("default", "m", health=health).id for _ in range(2000))
    assert 800 < picks[1] < 1200


def test_error_kinds_for_metrics() -> None:
    timeout = UpstreamError("upstream timed out", status_code=504, code="upstream_timeout", retryable=True)
    gone = UpstreamError("cannot reach upstream", status_code=502, code="upstream_unreachable", retryable=True)
    busy = UpstreamError("slow down", status_code=429, code="upstream_429", retryable=True)
    assert [error_kind(e) for e in (timeout, gone, busy, SERVER_ERROR, REVOKED)] == [
        "timeout", "connection", "rate_limited", "server_error", "client_error"]
