"""One try of a relay call on one channel, from the quota hold to the settlement."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tollway.billing.ledger import Hold
from tollway.billing.pricing import Price
from tollway.limits.limiter import Ticket
from tollway.relay.adaptors.base import Adaptor, Target, UpstreamRequest
from tollway.relay.auth import Caller
from tollway.relay.calls import Call


@dataclass(eq=False, slots=True)
class Attempt:
    """One try on one channel, from the hold to the settlement."""

    call: Call
    caller: Caller
    target: Target
    adaptor: Adaptor
    price: Price
    hold: Hold
    request_id: str
    started: float
    upstream: UpstreamRequest | None = None
    first_byte: float = 0.0
    ticket: Ticket | None = None  # what the rate limits charged for the call
    retry: int = 0  # which try of the call this is (0: the first)

    def mark_first_byte(self) -> None:
        if not self.first_byte:
            self.first_byte = time.monotonic()

    @property
    def first_byte_seconds(self) -> float:
        return self.first_byte - self.started if self.first_byte else 0.0
