"""(channel, model) pair health: the failure window, cool-downs that double, the trial call, other models untouched."""

from __future__ import annotations

from tollway.options import Options
from tollway.routing.pairs import PairBook, Rules


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rules(**options: str) -> Rules:
    return Rules.of(Options({"ChannelCooldownWindow": "60", "ChannelCooldownMinCalls": "4",
                             "ChannelCooldownFailureRate": "0.5", "ChannelCooldownSeconds": "30",
                             "ChannelCooldownMaxSeconds": "100", **options}))


def book() -> tuple[PairBook, Clock]:
    clock = Clock()
    return PairBook(clock), clock


def test_a_pair_cools_down_only_with_enough_calls_and_failures() -> None:
    pairs, clock = book()
    r = rules()
    for _ in range(3):
        assert not pairs.succeeded(1, "m", r)
    assert not pairs.failed(1, "m", r, "500") and not pairs.failed(1, "m", r, "500")
    assert "m" not in pairs.cooling  # 2 of 5 failed: under the rate
    assert pairs.failed(1, "m", r, "500 boom")  # 3 of 6
    pair = pairs.cooling["m"][1]
    assert pair.blocks(clock.now, r.trial_patience) and pair.reason == "500 boom" and pair.strikes == 1
    assert pair.until - clock.now == 30


def test_failures_in_a_row_trip_a_quiet_pair_and_other_models_are_untouched() -> None:
    """A pair called rarely never fills the window, yet four failures in a row are enough."""
    pairs, clock = book()
    r = rules()
    for _ in range(3):
        assert not pairs.failed(1, "m", r, "timeout")
        clock.now += 50
    assert pairs.failed(1, "m", r, "timeout")
    assert list(pairs.cooling) == ["m"] and pairs.find(1, "other") is None
    assert not pairs.failed(1, "other", r, "x")  # the same channel's other model has its own record


def test_old_failures_leave_the_window() -> None:
    pairs, clock = book()
    r = rules()
    for _ in range(3):
        pairs.failed(1, "m", r, "500")
    pairs.succeeded(1, "m", r)  # breaks the streak
    clock.now += 61  # the three failures are now outside the 60-second window
    for _ in range(3):
        pairs.succeeded(1, "m", r)
    assert not pairs.failed(1, "m", r, "500") and "m" not in pairs.cooling


def test_the_trial_call_decides_and_cool_downs_double_up_to_the_maximum() -> None:
    pairs, clock = book()
    r = rules()
    for _ in range(4):
        pairs.failed(1, "m", r, "500")
    pair = pairs.cooling["m"][1]
    clock.now = pair.until
    assert not pair.blocks(clock.now, r.trial_patience)  # the cool-down is over: one call may go
    pairs.chosen(pair)
    assert pair.blocks(clock.now, r.trial_patience)  # ... and only one while it is out
    assert pairs.failed(1, "m", r, "500 again")  # the trial failed: twice as long
    assert (pair.strikes, pair.until - clock.now, pair.reason) == (2, 60, "500 again")
    clock.now = pair.until
    pairs.chosen(pair)
    pairs.failed(1, "m", r, "500")
    assert (pair.strikes, pair.until - clock.now) == (3, 100)  # capped at ChannelCooldownMaxSeconds
    clock.now = pair.until
    pairs.chosen(pair)
    assert pairs.succeeded(1, "m", r, 120) and "m" not in pairs.cooling and not pair.cooling
    assert pair.first_byte_ms == 120


def test_a_trial_that_never_reports_back_lets_another_through() -> None:
    pairs, clock = book()
    r = rules()
    for _ in range(4):
        pairs.failed(1, "m", r, "500")
    pair = pairs.cooling["m"][1]
    clock.now = pair.until
    pairs.chosen(pair)
    clock.now += r.trial_patience
    assert not pair.blocks(clock.now, r.trial_patience)


def test_calls_that_began_before_the_cool_down_change_nothing() -> None:
    pairs, _ = book()
    r = rules()
    for _ in range(4):
        pairs.failed(1, "m", r, "500")
    pair = pairs.cooling["m"][1]
    assert not pairs.failed(1, "m", r, "late failure") and pair.strikes == 1
    assert not pairs.succeeded(1, "m", r) and pair.cooling  # a late success is no trial


def test_strikes_are_forgotten_after_a_long_healthy_spell() -> None:
    pairs, clock = book()
    r = rules()
    for _ in range(4):
        pairs.failed(1, "m", r, "500")
    pair = pairs.cooling["m"][1]
    clock.now = pair.until
    pairs.chosen(pair)
    pairs.succeeded(1, "m", r)
    clock.now += r.longest + 1
    for _ in range(4):
        pairs.failed(1, "m", r, "500")
    assert pair.strikes == 1 and pair.until - clock.now == 30


def test_switched_off_and_cleared() -> None:
    pairs, _ = book()
    off = rules(ChannelCooldownEnabled="false")
    for _ in range(10):
        assert not pairs.failed(1, "m", off, "500")
    on = rules()
    for model in ("m", "n"):
        for _ in range(4):
            pairs.failed(2, model, on, "500")
    assert {pair.model for pair in pairs.cooling_pairs()} == {"m", "n"}
    assert pairs.clear(2, "m") == 1 and list(pairs.cooling) == ["n"]
    assert pairs.clear(2) == 1 and pairs.cooling == {} and pairs.find(2, "n") is None
