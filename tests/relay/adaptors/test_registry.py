"""Every channel type of One API has an adaptor, except the raw proxy type that only One API's proxy route used."""

from __future__ import annotations

from tollway.relay.adaptors.registry import Adaptors
from tollway.routing import channel_types
from tollway.settings import Settings


def test_every_type_has_an_adaptor() -> None:
    supported = Adaptors(Settings.from_env({}, dotenv=None)).supported()
    assert set(channel_types.TYPES) - supported == {43}
