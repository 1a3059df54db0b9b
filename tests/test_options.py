"""Options: One API's names and defaults, validation of submitted values, secrets never listed."""

from __future__ import annotations

import pytest

from tollway import options
from tollway.errors import InvalidRequest


def test_defaults_and_stored_values() -> None:
    current = options.Options({"QuotaPerUnit": "1000", "RetryTimes": "3", "LogConsumeEnabled": "false",
                               "RetryTimesTypo": "1", "PreConsumedQuota": "not a number"})
    assert current.quota_per_unit == 1000 and current.retry_times == 3
    assert current["LogConsumeEnabled"] is False and current.pre_consumed_quota == 500


def test_secrets_are_not_listed() -> None:
    listed = {item["key"] for item in options.Options().public()}
    assert "QuotaPerUnit" in listed
    assert not listed & {"SMTPToken", "GitHubClientSecret", "TurnstileSecretKey", "WeChatServerToken",
                         "OidcClientSecret", "LarkClientSecret", "MessagePusherToken"}


@pytest.mark.parametrize("key,value,fragment", [
    ("RetryTimes", "many", "RetryTimes"),
    ("RetryTimes", "-1", "negative"),
    ("LogConsumeEnabled", "maybe", "true or false"),
    ("ModelRatio", "{not json", "JSON"),
    ("ModelRatio", '{"gpt-4o": "cheap"}', "non-negative number"),
    ("GroupRatio", "[1, 2]", "JSON object"),
    ("QuotaPerUnit", "0", "positive"),
    ("NoSuchOption", "1", "unknown option"),
])
def test_bad_values_are_refused(key: str, value: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        options.parse(key, value)


def test_values_round_trip() -> None:
    assert options.serialize("LogConsumeEnabled", options.parse("LogConsumeEnabled", True)) == "true"
    assert options.parse("GroupRatio", {"vip": 2}) == {"vip": 2.0}
    assert options.serialize("QuotaPerUnit", 500000.0) == "500000"


@pytest.mark.parametrize("key,value", [("QuotaPerUnit", "nan"), ("SMTPPort", "inf"), ("RetryTimes", "1e30"),
                                       ("ModelRatio", '{"x": 1e999}'), ("GroupRatio", {"vip": [1]})])
def test_non_finite_and_huge_numbers_are_refused(key: str, value: object) -> None:
    with pytest.raises(InvalidRequest):
        options.parse(key, value)


def test_null_is_an_empty_string_and_objects_are_not_scalars() -> None:
    assert options.parse("Notice", None) == ""
    with pytest.raises(InvalidRequest, match="single value"):
        options.parse("RetryTimes", {"a": 1})


def test_group_rate_limits() -> None:
    """GroupRateLimit: per group, whole per-minute counts of the known keys; zeros dropped; round-trips as JSON."""
    text = '{"vip": {"token_rpm": 60, "user_tpm": 100000, "group_rpm": 0}, "default": {}}'
    value = options.parse("GroupRateLimit", text)
    assert value == {"vip": {"token_rpm": 60, "user_tpm": 100000}, "default": {}}
    assert options.parse("GroupRateLimit", options.serialize("GroupRateLimit", value)) == value
    assert options.parse("GroupRateLimit", {"vip": {"group_tpm": 5}}) == {"vip": {"group_tpm": 5}}
    assert options.parse("GroupRateLimit", "") == {} and options.Options().values["GroupRateLimit"] == {}
    for bad, fragment in (('{"vip": {"rpm": 1}}', "unknown limit"), ('{"vip": {"token_rpm": -1}}', "whole number"),
                          ('{"vip": {"token_rpm": 1.5}}', "whole number"), ('{"vip": 60}', "object"),
                          ("[1]", "JSON object"), ("{", "not valid JSON"), ('{"vip": {"token_rpm": true}}', "whole")):
        with pytest.raises(InvalidRequest, match=fragment):
            options.parse("GroupRateLimit", bad)


def test_cooldown_options() -> None:
    defaults = options.Options().values
    assert defaults["ChannelCooldownEnabled"] is True and defaults["ChannelPreferFastEnabled"] is False
    assert options.parse("ChannelCooldownFailureRate", "1") == 1.0
    assert options.parse("ChannelCooldownWindow", "3600") == 3600
    for key, bad in (("ChannelCooldownFailureRate", "0"), ("ChannelCooldownWindow", "9"),
                     ("ChannelCooldownMaxSeconds", "0"), ("ChannelCooldownMinCalls", "0")):
        with pytest.raises(InvalidRequest, match=key):
            options.parse(key, bad)
    assert "MetricsToken" not in {item["key"] for item in options.Options({"MetricsToken": "s"}).public()}


def test_the_typed_option_names_list_every_option_once_under_its_kind() -> None:
    """`Flag`, `Whole`, `Number` and `Text` (what mypy checks option reads against) agree with SPECS."""
    from typing import get_args

    from tollway.options import SPECS, Flag, Name, Number, Text, Whole

    for names, kind in ((Flag, "bool"), (Whole, "int"), (Number, "float"), (Text, "str")):
        assert set(get_args(names)) == {key for key, spec in SPECS.items() if spec.kind == kind}, kind
    every = [name for part in get_args(Name) for name in get_args(part)]
    assert sorted(every) == sorted(SPECS)
