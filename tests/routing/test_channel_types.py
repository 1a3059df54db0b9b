"""Facts on the channel-type rows agree with the code that acts on them."""

from __future__ import annotations

from tollway.operations.balances import FETCHERS
from tollway.routing import channel_types


def test_balance_currency_marks_exactly_the_types_with_a_balance_query() -> None:
    assert {kind.id for kind in channel_types.TYPES.values() if kind.balance_currency} == set(FETCHERS)
    assert {kind.balance_currency for kind in channel_types.TYPES.values()} == {"", "USD", "CNY"}


def test_a_json_key_is_a_credential_that_may_also_live_in_config() -> None:
    assert all(kind.credentials_in_config for kind in channel_types.TYPES.values() if kind.json_key)
