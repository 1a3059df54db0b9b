"""One API's rules for channels after a test, and the choice of the model to test, as plain functions."""

from __future__ import annotations

import pytest

from tollway.errors import UpstreamError
from tollway.operations.channel_rules import should_disable, too_slow
from tollway.operations.channel_tests import pick_model
from tollway.storage.cache import ChannelEntry


def error(status: int = 500, message: str = "boom", kind: str = "upstream_error", code: str = "x") -> UpstreamError:
    return UpstreamError(message, status_code=status, error_type=kind, code=code)


@pytest.mark.parametrize("failure", [
    error(401), error(kind="insufficient_quota"), error(kind="authentication_error"), error(kind="permission_error"),
    error(kind="forbidden"), error(code="invalid_api_key"), error(code="account_deactivated"),
    error(message="Your credit balance is too low to access the API"), error(message="API key not valid."),
    error(message="Organization has been restricted"), error(message="账户已欠费"),
])
def test_refused_keys_and_empty_accounts_disable(failure: UpstreamError) -> None:
    assert should_disable(failure)


@pytest.mark.parametrize("failure", [None, error(500, "upstream overloaded"), error(429, "rate limited"),
                                     error(404, "model not found"), error(502, "cannot reach upstream")])
def test_passing_glitches_do_not(failure: UpstreamError | None) -> None:
    assert not should_disable(failure)


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
