"""Reserve, settle and refund quota in memory, atomically with respect to every other request.

Everything here runs on the event loop without awaiting, so a check and the hold that follows it
cannot interleave with another request's: concurrent calls can never take a token or a user below
zero. The keeper (storage/keeper.py) writes the settled amounts to the database in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.errors import InsufficientQuota
from tollway.storage.cache import Cache, ChannelEntry, TokenEntry, UserEntry
from tollway.storage.keeper import Keeper


@dataclass(eq=False, slots=True)
class Hold:
    """Quota set aside for one request until it settles or is refunded."""

    user: UserEntry
    token: TokenEntry
    amount: int
    open: bool = True


class Ledger:
    """The quota book of this process."""

    def __init__(self, cache: Cache, keeper: Keeper) -> None:
        self.cache = cache
        self.keeper = keeper
        # Called (user, remaining quota) when a settlement takes a user below QuotaRemindThreshold or to zero; it
        # must only queue work, since it runs inside the settlement (see accounts/reminders.py).
        self.on_low_quota: Callable[[UserEntry, int], None] | None = None

    def reserve(self, token: TokenEntry, user: UserEntry, amount: int) -> Hold:
        """Hold `amount` on the user and (unless unlimited) the token, or raise InsufficientQuota.

        Callers hold at least 1 for any priced request, so an empty balance never gets a free call.
        """
        amount = max(0, amount)
        if user.quota.available < amount:
            raise InsufficientQuota(
                f"user quota is not enough for this request (needs {amount}, has {max(user.quota.available, 0)})",
                code="insufficient_user_quota",
            )
        if not token.unlimited and token.remain.available < amount:
            raise InsufficientQuota(
                f"token quota is not enough for this request (needs {amount}, has {max(token.remain.available, 0)})",
                code="insufficient_token_quota",
            )
        user.quota.held += amount
        if not token.unlimited:
            token.remain.held += amount
        return Hold(user=user, token=token, amount=amount)

    def _release(self, hold: Hold) -> bool:
        if not hold.open:
            return False
        hold.open = False
        hold.user.quota.held -= hold.amount
        if not hold.token.unlimited:
            hold.token.remain.held -= hold.amount
        return True

    def refund(self, hold: Hold) -> None:
        """Give the held quota back: the request failed before it cost anything."""
        self._release(hold)

    def settle(self, hold: Hold, cost: int, channel: ChannelEntry, log_row: dict[str, Any] | None) -> int:
        """Charge the final cost and queue the log; returns what was charged.

        A request that turns out dearer than its hold is charged at most what the user and token
        still have, so neither ever goes below zero; the log records what was charged.
        """
        if not self._release(hold):
            return 0
        user, token = hold.user, hold.token
        charged = max(0, min(cost, max(user.quota.available, 0)))
        if not token.unlimited:
            charged = min(charged, max(token.remain.available, 0))
        before = user.quota.value
        user.quota.unwritten -= charged
        if self.on_low_quota is not None and charged:
            threshold = self.cache.options["QuotaRemindThreshold"]
            after = before - charged
            if before >= threshold > after or before > 0 >= after:
                self.on_low_quota(user, after)
        user.used_quota.unwritten += charged
        user.request_count.unwritten += 1
        self.cache.dirty_users.add(user)
        if not token.unlimited:
            token.remain.unwritten -= charged
        token.used.unwritten += charged
        self.cache.dirty_tokens.add(token)
        channel.used.unwritten += charged
        self.cache.dirty_channels.add(channel)
        if log_row is not None:
            log_row["quota"] = charged
            if charged < cost:
                shortfall = f"{cost - charged} quota over the balance not charged"
                log_row["content"] = f"{log_row.get('content', '')}; {shortfall}"
        self.keeper.record(user, token, channel, charged, log_row)
        return charged
