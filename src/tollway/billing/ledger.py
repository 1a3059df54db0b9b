"""Reserve, settle and refund quota in memory, atomically with respect to every other request of every process.

A user's quota and a limited token's remain are spent from this process's leases (storage/lease_book.py): slices
of the balance that no other process can spend. A hold is a check-and-decrement of a slice with no `await` in
between, so concurrent calls can never take a token or a user below zero, whichever process or node serves them;
only when a slice is too small does the call wait for a bigger one from the database. The keeper
(storage/keeper.py) writes the settled amounts to the database in batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.errors import InsufficientQuota, QuotaUnavailable
from tollway.storage.cache import Cache, ChannelEntry, TokenEntry, UserEntry
from tollway.storage.database import DatabaseError
from tollway.storage.keeper import Keeper
from tollway.storage.lease_book import Want
from tollway.storage.leases import TOKEN, USER

log = logging.getLogger(__name__)

_STORE_TRIES = 3  # attempts at taking a lease from the database before a call gets 503
_STORE_PAUSE_S = 0.25  # grows with each attempt: 0.25 s, then 0.5 s
_RETRIES = 8  # rounds of taking a slice that other calls of this process emptied before this one could hold on it


@dataclass(eq=False, slots=True)
class Hold:
    """Quota set aside for one request until it settles or is refunded."""

    user: UserEntry
    token: TokenEntry
    amount: int
    open: bool = True


class _Short(Exception):
    """This process's slices are too small for the hold (or were not renewed in time); a bigger one is needed."""


class Ledger:
    """The quota book of this process."""

    def __init__(self, cache: Cache, keeper: Keeper) -> None:
        self.cache = cache
        self.keeper = keeper
        self.leases = keeper.leases
        # Called (user, remaining quota) when a settlement takes a user below QuotaRemindThreshold or to zero; it
        # must only queue work, since it runs inside the settlement (see accounts/reminders.py).
        self.on_low_quota: Callable[[UserEntry, int], None] | None = None

    def hold_now(self, token: TokenEntry, user: UserEntry, amount: int) -> Hold:
        """Hold `amount` on the user and (unless unlimited) the token from this process's slices; raises _Short when
        they do not cover it. No I/O: callers use `hold` (One API's reserve is `await ledger.hold(...)` now)."""
        if amount > 0 and (user.quota.spendable < amount or not self.leases.usable
                           or (not token.unlimited and token.remain.spendable < amount)):
            raise _Short
        amount = max(0, amount)
        user.quota.held += amount
        if not token.unlimited:
            token.remain.held += amount
        return Hold(user=user, token=token, amount=amount)

    async def hold(self, token: TokenEntry, user: UserEntry, amount: int, *, patient: bool = True) -> Hold:
        """Hold `amount` on the user and (unless unlimited) the token, or raise InsufficientQuota.

        Callers hold at least 1 for any priced request, so an empty balance never gets a free call. Near zero a
        `patient` hold asks other processes for their slices and waits a few seconds for them.
        """
        for _ in range(_RETRIES):
            try:
                return self.hold_now(token, user, amount)
            except _Short:
                pass
            wants = [Want(USER, user.id, user.quota, amount)]
            if not token.unlimited:
                wants.append(Want(TOKEN, token.id, token.remain, amount))
            short = await self._ensure(wants, patient)
            if short:
                raise _refusal(short[0], amount)
        raise InsufficientQuota("quota is being used by other requests at this moment; try again",
                                code="insufficient_user_quota")

    async def _ensure(self, wants: list[Want], patient: bool) -> list[Want]:
        """Take the slices `wants` asks for; a failed take is tried again shortly, because on a shared SQLite file
        another worker's flush can hold the write lock past the busy timeout, and that passes."""
        attempt = 1
        while True:
            try:
                return await self.leases.ensure(wants, patient=patient)
            except (DatabaseError, OSError) as exc:
                log.warning("taking a quota lease failed (attempt %d of %d): %r", attempt, _STORE_TRIES, exc)
                if attempt == _STORE_TRIES:
                    raise QuotaUnavailable("the quota store cannot be reached; try again shortly") from exc
            await asyncio.sleep(_STORE_PAUSE_S * attempt)
            attempt += 1

    async def cover(self, hold: Hold, cost: int) -> None:
        """Before settling a call that cost more than its hold: grow the slices so the whole cost can be charged."""
        extra = cost - hold.amount
        if extra <= 0 or not hold.open:
            return
        wants = [Want(USER, hold.user.id, hold.user.quota, extra)]
        if not hold.token.unlimited:
            wants.append(Want(TOKEN, hold.token.id, hold.token.remain, extra))
        wants = [want for want in wants if want.balance.spendable < extra]
        if not wants:
            return
        try:
            await self.leases.ensure(wants, patient=False, greedy=True)
        except (DatabaseError, OSError) as exc:  # the settlement still happens, capped at the slices
            log.warning("taking a quota lease to settle a call failed: %r", exc)

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

        A request that turns out dearer than its hold is charged at most what the user and token still have
        (`cover` first grows the slices to the cost where the balance allows), so neither ever goes below zero;
        the log records what was charged.
        """
        if not self._release(hold):
            return 0
        user, token = hold.user, hold.token
        charged = max(0, min(cost, max(user.quota.spendable, 0)))
        if not token.unlimited:
            charged = min(charged, max(token.remain.spendable, 0))
        before = user.quota.value
        user.quota.unwritten -= charged
        if self.on_low_quota is not None and charged:
            threshold = self.cache.options.whole("QuotaRemindThreshold")
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


def _refusal(want: Want, amount: int) -> InsufficientQuota:
    """The refusal of a hold that the balance (this process's slice and what is free) cannot cover."""
    balance = want.balance
    has = max(0, balance.spendable + max(0, balance.stored - balance.leased))
    if want.kind == USER:
        return InsufficientQuota(f"user quota is not enough for this request (needs {amount}, has {has})",
                                 code="insufficient_user_quota")
    return InsufficientQuota(f"token quota is not enough for this request (needs {amount}, has {has})",
                             code="insufficient_token_quota")
