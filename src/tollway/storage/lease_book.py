"""This process's quota leases: how big a slice to take, taking one when calls need it, giving back what is not used.

Calls spend from the slices in memory (billing/ledger.py) with no round trip. A slice is sized from what its subject
spent lately, so that in steady state the keeper's flush renews and refills it in the background and no call waits
for the database; it grows fast during a burst and shrinks to a quarter of what is free near zero. At each flush the
keeper gives back what the next interval will not need (everything for an idle subject); a process that finds too
little free while others hold slices asks them to give theirs back (a recall) and tries again for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import leases
from tollway.storage.cache import Balance
from tollway.storage.database import begin_write
from tollway.storage.leases import USER, Key

log = logging.getLogger(__name__)

SHORT_MEMORY_S = 1.0  # how long a subject found short is refused without asking the database again
RECALL_WAIT_S = 5.0  # how long a call waits for other processes to give back their slices near zero
_ATTEMPTS = 3  # tries of a take that meets a deadlock or a busy SQLite lock


@dataclass(frozen=True, slots=True)
class Want:
    """A call needs `need` spendable on this balance."""

    kind: str
    subject: int
    balance: Balance
    need: int

    @property
    def key(self) -> Key:
        return (self.kind, self.subject)


@dataclass(eq=False)
class Slice:
    """What this process knows about its lease on one subject."""

    kind: str
    subject: int
    balance: Balance
    rate: float = 0.0  # quota per second spent lately
    hint: int = 0  # the size of the next slice
    last_take: float = -math.inf
    taking: asyncio.Future[None] | None = None
    recalled: bool = False
    short_until: float = 0.0
    short_need: int = 0


class LeaseBook:
    """The leases of one process (its owner id is its journal's id)."""

    def __init__(self, engine: AsyncEngine, owner: str, *, ttl: int, interval: float) -> None:
        self.engine = engine
        self.owner = owner
        self.node = socket.gethostname()
        self.ttl = ttl
        self.interval = interval  # the keeper's flush interval
        self.slices: dict[Key, Slice] = {}
        # Takes and the keeper's flush of leases run one at a time, so that the database and memory always agree.
        self.lock = asyncio.Lock()
        self.valid_until = 0.0  # monotonic time after which slices must not be spent unless renewed
        # Set by the change follower (operations/changes.py): tell other processes to give back their slices.
        self.recaller: Callable[[Key], Awaitable[None]] | None = None
        # Set by the keeper: flush now (a recalled slice goes back at once).
        self.wake: Callable[[], None] | None = None

    # -- what calls see ------------------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether the slices were renewed recently enough to be spent (false while the database is unreachable)."""
        return time.monotonic() < self.valid_until

    def renewed(self, started: float) -> None:
        """Every lease of this process was renewed by a transaction that began at `started` (monotonic)."""
        # The database counts the lifetime from a moment after `started`; the margin covers clock rates and latency.
        self.valid_until = started + self.ttl - max(1.0, self.ttl / 10)

    @property
    def horizon(self) -> float:
        """Seconds of spending a slice should last: until the flush after next."""
        return max(2 * self.interval, 1.0)

    def slice_of(self, kind: str, subject: int, balance: Balance) -> Slice:
        found = self.slices.get((kind, subject))
        if found is None or found.balance is not balance:
            found = self.slices[(kind, subject)] = Slice(kind, subject, balance)
        return found

    # -- taking ----------------------------------------------------------------------------------------------------

    async def ensure(self, wants: Sequence[Want], *, patient: bool, greedy: bool = False) -> list[Want]:
        """Take slices until each balance can hold its need; answers the wants that could not be met.

        Concurrent calls share one take per subject. `patient`: near zero, recall other processes' slices and try
        again for up to RECALL_WAIT_S before giving up. `greedy`: take what is free even when it is less than the
        need (a settlement, charged at most what is left).
        """
        deadline = time.monotonic() + RECALL_WAIT_S
        recalled: set[Key] = set()
        while True:
            short = await self._take_round(wants, greedy)
            if not short or not patient:
                return short
            hopeful = [want for want in short if self._others_hold(want)]
            if len(hopeful) < len(short) or time.monotonic() >= deadline:
                return short
            for want in hopeful:
                if want.key not in recalled and self.recaller is not None:
                    recalled.add(want.key)
                    with contextlib.suppress(Exception):
                        await self.recaller(want.key)
                self.slice_of(want.kind, want.subject, want.balance).short_until = 0.0
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            await self._reclaim([want.key for want in hopeful])

    def _others_hold(self, want: Want) -> bool:
        """Whether other processes' slices (with what is free) could still cover the want."""
        balance = want.balance
        free = balance.stored - balance.leased
        others = balance.leased - balance.lease
        return others > 0 and balance.spendable + max(free, 0) + others >= want.need

    async def _take_round(self, wants: Sequence[Want], greedy: bool = False) -> list[Want]:
        while True:
            pending = [s.taking for w in wants if (s := self.slices.get(w.key)) is not None and s.taking is not None]
            if not pending:
                break
            await asyncio.wait(pending)  # a take on the same subject is under way: share it
        now = time.monotonic()
        missing = []
        for want in wants:
            if want.balance.spendable >= want.need and self.usable:
                continue
            piece = self.slice_of(want.kind, want.subject, want.balance)
            if piece.short_until > now and want.need - want.balance.spendable >= piece.short_need:
                continue  # found short a moment ago; nothing was given back since
            missing.append(want)
        if missing:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for want in missing:
                self.slices[want.key].taking = future
            try:
                await self._take(missing, greedy)
            finally:
                for want in missing:
                    self.slices[want.key].taking = None
                future.set_result(None)
        return [want for want in wants if want.balance.spendable < want.need or not self.usable]

    def _want(self, piece: Slice, shortfall: int) -> int:
        """The slice to ask for: enough for the next interval at the recent rate, doubling while a burst goes on."""
        now = time.monotonic()
        if now - piece.last_take < self.interval:
            piece.hint = max(piece.hint * 2, shortfall * 4)
        else:
            piece.hint = max(piece.hint // 2, shortfall * 4)
        piece.last_take = now
        return max(shortfall, piece.hint, int(piece.rate * self.horizon))

    async def _take(self, missing: Sequence[Want], greedy: bool = False) -> None:
        async with self.lock:
            started = time.monotonic()
            asks = sorted(((want, self.slices[want.key], max(1, want.need - want.balance.spendable))
                           for want in missing), key=lambda ask: leases.order(ask[0].key))
            sizes = [shortfall if greedy else self._want(piece, shortfall) for _, piece, shortfall in asks]
            found = await self._transaction([(want.key, size, shortfall) for (want, _, shortfall), size
                                             in zip(asks, sizes, strict=True)], eager=True, greedy=greedy)
            # No await from here on: memory follows the commit at once.
            self.renewed(started)
            for (want, piece, shortfall), taken in zip(asks, found, strict=True):
                self._book(want.balance, taken)
                if taken is not None and not taken.granted:
                    piece.short_until, piece.short_need = time.monotonic() + SHORT_MEMORY_S, shortfall

    async def _transaction(self, asks: Sequence[tuple[Key, int, int]], *, eager: bool,
                           greedy: bool = False) -> list[leases.Taken | None]:
        """Take slices (key, size, need) in one transaction that also renews every lease of this process; tried again
        when the database reports a deadlock or a busy lock (it rolled the transaction back)."""
        for attempt in range(_ATTEMPTS):
            try:
                found = []
                async with begin_write(self.engine) as conn:
                    for key, size, need in asks:
                        found.append(await leases.take(conn, self.owner, self.node, key, size, need, self.ttl,
                                                       eager=eager, greedy=greedy))
                    await leases.renew(conn, self.owner, self.ttl)
                return found
            except DBAPIError as exc:
                if attempt + 1 == _ATTEMPTS or exc.connection_invalidated or not _transient(exc):
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    @staticmethod
    def _book(balance: Balance, taken: leases.Taken | None) -> None:
        if taken is None:
            return
        balance.lease += taken.granted
        balance.stored, balance.leased = taken.figure, taken.leased

    async def refill(self, wants: Sequence[Want]) -> None:
        """Top up slices in the background (after a flush) while what is free is ample; never on a call's path."""
        if not wants:
            return
        async with self.lock:
            started = time.monotonic()
            wants = sorted(wants, key=lambda w: leases.order(w.key))
            found = await self._transaction([(want.key, want.need, want.need) for want in wants], eager=False)
            self.renewed(started)
            for want, taken in zip(wants, found, strict=True):
                self._book(want.balance, taken)

    async def _reclaim(self, keys: Sequence[Key]) -> None:
        """Give back expired leases of these subjects (a killed process's), so a waiting call can use them."""
        try:
            async with begin_write(self.engine) as conn:
                for key in keys:
                    for owner, _, amount in await leases.reclaim_expired(conn, key=key):
                        log.warning("reclaimed %d quota of %s %s leased by stopped process %s", amount,
                                    "user" if key[0] == USER else "token", key[1], owner)
        except Exception:
            log.exception("reclaiming expired leases failed")

    # -- what the keeper does at a flush ----------------------------------------------------------------------------

    def plan(self, elapsed: float) -> tuple[dict[Key, int], list[Want]]:
        """At a flush (no await): what to give back of each slice now, and which slices to top up after the flush.

        Returns are taken off `lease` at once, so calls cannot hold them while the flush writes; `restore` puts them
        back if the flush fails. Spending since the last flush (`-unwritten`) updates each slice's rate.
        """
        returns: dict[Key, int] = {}
        refills: list[Want] = []
        for key, piece in list(self.slices.items()):
            balance = piece.balance
            spent = -balance.unwritten
            if elapsed > 0:
                piece.rate = 0.5 * piece.rate + 0.5 * max(spent, 0) / elapsed
            if balance.lease <= 0 and not balance.held and piece.taking is None:
                if not spent:
                    del self.slices[key]  # nothing leased, nothing in flight: forget it
                continue
            keep = 0 if piece.recalled or (not spent and not balance.held) else int(piece.rate * self.horizon)
            spare = balance.spendable - keep
            if spare > 0 and (keep == 0 or spare > keep):
                returns[key] = spare
                balance.lease -= spare
            elif spent and balance.spendable < keep // 2:
                refills.append(Want(piece.kind, piece.subject, balance, keep - balance.spendable))
            piece.recalled = False
        return returns, refills

    def restore(self, returns: dict[Key, int]) -> None:
        """A flush that gave back `returns` did not commit: the slices are this process's again."""
        for key, amount in returns.items():
            piece = self.slices.get(key)
            if piece is not None:
                piece.balance.lease += amount

    def recall(self, key: Key) -> None:
        """Another process needs this subject's quota: give back this process's slice at the next flush, now."""
        piece = self.slices.get(key)
        if piece is not None and piece.balance.lease > 0:
            piece.recalled = True
            if self.wake is not None:
                self.wake()

    def changed(self, key: Key) -> None:
        """The subject was changed by an operator (quota set, top-up): forget that it was short, and give back the
        slice, so the new figure governs every process from the next take on."""
        piece = self.slices.get(key)
        if piece is not None:
            piece.short_until = 0.0
        self.recall(key)


def _transient(exc: DBAPIError) -> bool:
    """A deadlock (PostgreSQL, MySQL) or a lock still busy after the busy timeout (SQLite): worth another try."""
    text = str(exc.orig).lower()
    return any(word in text for word in ("deadlock", "database is locked", "lock wait timeout"))
