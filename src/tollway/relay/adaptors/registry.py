"""Which adaptor translates for which channel type: `tollway.relay.adaptors.<family>.build(settings)`."""

from __future__ import annotations

import importlib
from typing import cast

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor
from tollway.relay.adaptors.failures import not_served
from tollway.relay.adaptors.rerank import RerankAdaptor, offers_rerank
from tollway.routing.channel_types import TYPES, ChannelType
from tollway.settings import Settings


class Adaptors:
    """One adaptor instance per provider family, made on first use from the family's module."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._families: dict[str, Adaptor] = {}

    def register(self, family: str, adaptor: Adaptor) -> None:
        """Use this adaptor for a family (tests use it to plug in their own)."""
        self._families[family] = adaptor

    def for_type(self, kind: ChannelType) -> Adaptor:
        """The adaptor of a channel type; a family without one fails over to another channel."""
        adaptor = self._families.get(kind.family)
        if adaptor is None:
            try:
                module = importlib.import_module(f"tollway.relay.adaptors.{kind.family}")
            except ModuleNotFoundError:
                raise UpstreamError(
                    f"channel type {kind.label} ({kind.id}) is not supported by this Tollway version yet",
                    status_code=501,
                    code="channel_type_not_supported",
                    retryable=True,
                ) from None
            adaptor = self._families[kind.family] = cast(Adaptor, module.build(self.settings))
        return adaptor

    def rerank(self, kind: ChannelType) -> Adaptor:
        """The adaptor of `POST /v1/rerank`, the same for every type that offers it (relay/adaptors/rerank.py)."""
        if not offers_rerank(kind):
            raise not_served(kind.label, "/v1/rerank")
        adaptor = self._families.get("rerank")
        if adaptor is None:
            adaptor = self._families["rerank"] = RerankAdaptor()
        return adaptor

    def supported(self) -> set[int]:
        """Channel types whose family has an adaptor module."""
        found = set()
        for type_id, kind in TYPES.items():
            try:
                self.for_type(kind)
            except UpstreamError:
                continue
            found.add(type_id)
        return found
