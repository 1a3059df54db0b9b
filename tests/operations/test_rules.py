"""One API's rule for slow channels after a test, and the choice of the model to test, as plain functions.

Which errors disable a channel is tests/routing/test_fatal.py's.
"""

from __future__ import annotations

from tollway.operations.channel_rules import too_slow
from tollway.operations.channel_tests import pick_model
from tollway.storage.cache import ChannelEntry


def test_threshold() -> None:
    assert too_slow(5.01, 5) and not too_slow(4.99, 5) and not too_slow(100, 0)


def channel(models: list[str]) -> ChannelEntry:
    return ChannelEntry(id=1, type=1, key="k", status=1, name="c", weight=0, priority=0, base_url="", models=models,
                        groups=["default"], model_mapping={}, config={}, system_prompt="")


def test_model_choice() -> None:
    assert pick_model(channel(["gpt-4o", "gpt-3.5-turbo"]), "") == "gpt-3.5-turbo"
    assert pick_model(channel(["gpt-4o", "o3"]), "") == "gpt-4o"
    assert pick_model(channel(["gpt-4o", "o3"]), " o3 ") == "o3"
    assert pick_model(channel(["gpt-4o"]), "claude") == "gpt-4o"
    assert pick_model(channel([]), "claude") == "claude"
    assert pick_model(channel([]), "") == "gpt-3.5-turbo"
