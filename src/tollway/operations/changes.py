"""Other processes' changes, applied to this process's cache within a second or two, row by row.

Every management write records what it changed in `tollway_changes` (storage/changes.py). This follower reads the
rows after the last one it saw, once a second, or at once when Redis pub/sub says something changed (with
REDIS_CONN_STRING; the poll then only backs it up), and reloads just those users, tokens, channels, sessions or the
options. A recall asks this process to give back its slice of a balance (storage/lease_book.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from tollway.operations.retention import pause
from tollway.options import Options
from tollway.storage import changes
from tollway.storage.changes import Change
from tollway.storage.keeper import Keeper, read_options
from tollway.storage.leases import TOKEN, USER, Key

if TYPE_CHECKING:
    from tollway.accounts.sessions import SessionRegistry

log = logging.getLogger(__name__)

CHANNEL = "tollway:changes"  # the Redis pub/sub channel
POLL_S = 1.0  # seconds between polls without Redis
BACKUP_POLL_S = 5.0  # with Redis: a message wakes the poll at once, this is for messages lost while disconnected
CATCH_UP_S = 0.5  # at most this often a call that found nothing makes the follower poll at once
GAP_WAIT_S = 30.0  # how long a missing id is looked for again (a transaction that took an id but has not committed)
_REPLAYED_AT_START = 100  # changes read again at start, in case one committed while the cache was loading


class ChangeFollower:
    """Keeps this process's cache in step with every other process's management writes."""

    def __init__(self, keeper: Keeper, redis: Any | None = None, *, interval: float | None = None) -> None:
        self.keeper = keeper
        self.redis = redis
        self.interval = interval or (BACKUP_POLL_S if redis is not None else POLL_S)
        self.owner = keeper.leases.owner
        self.last = 0
        self.gaps: dict[int, float] = {}
        self.wake = asyncio.Event()
        self.sessions: SessionRegistry | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._catching: asyncio.Future[int] | None = None
        self._caught_at = -math.inf
        keeper.announce = self.announce
        keeper.leases.recaller = self.recall

    # -- telling others ----------------------------------------------------------------------------------------

    def announce(self, kind: str, ref: str) -> None:
        """A change was committed here: wake every other process's poll through Redis (a no-op without it)."""
        if self.redis is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish(f"{kind}:{ref}"))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, message: str) -> None:
        assert self.redis is not None
        try:
            await self.redis.publish(CHANNEL, message)
        except Exception as exc:  # the others' backup poll still finds the change
            log.warning("could not publish a change through Redis: %r", exc)

    async def recall(self, key: Key) -> None:
        """Ask every other process to give back its slice of this user's or token's balance."""
        ref = f"{key[0]}:{key[1]}"
        async with self.keeper.engine.begin() as conn:
            await changes.record(conn, changes.RECALL, [ref], origin=self.owner)
        self.announce(changes.RECALL, ref)

    # -- following ---------------------------------------------------------------------------------------------

    async def catch_up(self, *, fresh: bool = False) -> bool:
        """Poll now, because a call found nothing it needed (a channel added on another process a moment ago may be
        what it wants); at most every CATCH_UP_S, so that calls for a model nobody serves cost no query each.

        `fresh` (a management request naming a user or access token this process has not seen): always a poll that
        starts after this call, since one already in flight may have read before the caller's change was written."""
        if fresh and self._catching is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._catching)
        if self._catching is None:
            if not fresh and time.monotonic() - self._caught_at < CATCH_UP_S:
                return False
            self._caught_at = time.monotonic()
            self._catching = asyncio.ensure_future(self.poll())
            self._catching.add_done_callback(lambda _: setattr(self, "_catching", None))
        try:
            return await asyncio.shield(self._catching) > 0
        except Exception:
            return False

    async def start(self) -> None:
        """Begin after the newest change (less a few, read again: the cache was loaded just before)."""
        async with self.keeper.engine.connect() as conn:
            self.last = max(0, await changes.latest(conn) - _REPLAYED_AT_START)
        await self.poll()

    async def poll(self) -> int:
        """Apply the changes recorded since the last poll; answers how many were read."""
        async with self.keeper.engine.connect() as conn:
            found = await changes.after(conn, self.last, sorted(self.gaps))
        now = time.monotonic()
        for change in found:
            if self.gaps.pop(change.id, None) is None and change.id > self.last:
                if change.id - self.last <= 1000:
                    for missing in range(self.last + 1, change.id):
                        self.gaps[missing] = now
                self.last = change.id
        self.gaps = {i: seen for i, seen in self.gaps.items() if now - seen < GAP_WAIT_S}
        await self.apply([change for change in found if change.origin != self.owner])
        return len(found)

    async def apply(self, found: list[Change]) -> None:
        """Reload the rows the changes name and put them in the cache."""
        if not found:
            return
        wanted: dict[str, set[str]] = {}
        for change in found:
            wanted.setdefault(change.kind, set()).add(change.ref)
        user_ids = _ids(wanted.get(changes.USER))
        token_ids = _ids(wanted.get(changes.TOKEN))
        channel_ids = _ids(wanted.get(changes.CHANNEL))
        keeper, cache = self.keeper, self.keeper.cache
        # Under the keeper's lock, as a reload: never between a flush's commit and its bookkeeping.
        async with keeper.lock, keeper.engine.connect() as conn:
            tokens = await changes.rows_changed(conn, changes.TOKEN, token_ids)
            user_ids |= {int(row["user_id"]) for row in tokens if row["user_id"] not in cache.users}
            users = await changes.rows_changed(conn, changes.USER, user_ids)
            channels = await changes.rows_changed(conn, changes.CHANNEL, channel_ids)
            options = await read_options(conn) if changes.OPTIONS in wanted else None
        # No await from here on.
        for row in users:
            cache.put_user(row)
        for user_id in user_ids - {int(row["id"]) for row in users}:
            cache.drop_user(user_id)
        for row in tokens:
            cache.put_token(row)
        for token_id in token_ids - {int(row["id"]) for row in tokens}:
            cache.drop_token(token_id)
        for row in channels:
            cache.put_channel(row, announce=False)
        for channel_id in channel_ids - {int(row["id"]) for row in channels}:
            cache.channels.pop(channel_id, None)
        if channel_ids:
            cache.channels_changed()
        if options is not None:
            cache.options = Options(options)
        for user_id in _ids(wanted.get(changes.USER)):
            keeper.leases.changed((USER, user_id))
        for token_id in token_ids:
            keeper.leases.changed((TOKEN, token_id))
        for ref in wanted.get(changes.RECALL, ()):
            kind, _, subject = ref.partition(":")
            if subject.isdigit():
                keeper.leases.recall((kind, int(subject)))
        if self.sessions is not None:
            for ref in wanted.get(changes.SESSION, ()):
                await self.sessions.follow(ref)

    async def loop(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping` is set (listening to Redis meanwhile, if configured); backs off while the database
        fails, and reloads everything once it answers again (changes may have been pruned meanwhile)."""
        listener = asyncio.create_task(self._listen(stopping), name="tollway-changes-redis") if self.redis else None
        failures = 0
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval * min(2**failures, 10)):
                        await self.wake.wait()
                self.wake.clear()
                if stopping.is_set():
                    break
                try:
                    while await self.poll() >= 1000:
                        pass
                    if failures:
                        await self.keeper.reload()
                    failures = 0
                except Exception:
                    failures += 1
                    if failures in (1, 5) or failures % 50 == 0:
                        log.exception("reading changes failed (%d times in a row)", failures)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _listen(self, stopping: asyncio.Event) -> None:
        assert self.redis is not None
        failures = 0
        while not stopping.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                failures = 0
                self.interval = BACKUP_POLL_S
                while not stopping.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.interval = POLL_S  # no notices while Redis is away: poll as often as without it
                if failures in (1, 10):
                    log.warning("listening for changes on Redis failed (%r); polling the database meanwhile", exc)
                await pause(stopping, min(30.0, 0.5 * 2**failures))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        """Wait for publications still under way (they take milliseconds)."""
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=2)


def _ids(refs: set[str] | None) -> set[int]:
    return {int(ref) for ref in refs or () if ref.isdigit()}
