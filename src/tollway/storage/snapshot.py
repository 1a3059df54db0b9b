"""What one flush of the keeper writes, read from the in-memory balances at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field

from tollway.storage.cache import ChannelEntry, TokenEntry, UserEntry
from tollway.storage.charges import Batch
from tollway.storage.lease_book import Want
from tollway.storage.leases import TOKEN, USER, Key
from tollway.storage.log_batch import LogBatch


@dataclass
class Snapshot:
    """What one flush writes: the unwritten amounts read at one instant, and the journal sequence they cover."""

    seq: int
    users: list[tuple[UserEntry, int, int, int]]
    tokens: list[tuple[TokenEntry, int, int]]
    channels: list[tuple[ChannelEntry, int]]
    logs: LogBatch = field(default_factory=LogBatch)
    returns: dict[Key, int] = field(default_factory=dict)  # slices given back by this flush
    refills: list[Want] = field(default_factory=list)  # slices to top up after it

    def batch(self) -> Batch:
        users = {u.id: [q, used, n, q] for u, q, used, n in self.users}
        tokens = {t.id: [r, used, 0 if t.unlimited else r] for t, r, used in self.tokens}
        for (kind, subject), amount in self.returns.items():
            row = users.setdefault(subject, [0, 0, 0, 0]) if kind == USER else tokens.setdefault(subject, [0, 0, 0])
            row[-1] -= amount
        return Batch(users=users, tokens=tokens, channels={c.id: used for c, used in self.channels})

    def spent(self) -> dict[Key, int]:
        """What each lease loses: the quota spent from it (negative) and what is given back."""
        deltas = {(USER, u.id): q for u, q, _, _ in self.users if q}
        deltas.update({(TOKEN, t.id): r for t, r, _ in self.tokens if r and not t.unlimited})
        for key, amount in self.returns.items():
            deltas[key] = deltas.get(key, 0) - amount
        return deltas
