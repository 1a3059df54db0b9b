"""The change log: what one process writes reaches another process's cache at its next poll, row by row."""

from __future__ import annotations

import secrets

from tests.storage.conftest import Store
from tollway.billing.ledger import Ledger
from tollway.operations.changes import ChangeFollower
from tollway.routing.current import CurrentRoutes
from tollway.storage import changes, markers, writes
from tollway.storage.leases import TOKEN, USER


async def test_management_writes_reach_another_process(store: Store) -> None:
    """A token disabled, a token made, a user banned, a channel edited and an option saved on one process are in the
    other's cache after one poll (no full reload); a deleted token is gone from it."""
    user, token, channel = await store.seed()
    other = store.new_keeper()
    routes = CurrentRoutes(other.cache)
    await other.reload()
    follower = ChangeFollower(other)
    await follower.start()
    theirs = other.cache
    assert theirs.tokens_by_id[token.id].status == 1

    await writes.update_token(store.keeper, token.id, {"status": 2})
    made = await writes.insert_token(store.keeper, {"user_id": user.id, "key": secrets.token_hex(24), "name": "new",
                                                    "remain_quota": 5, "expired_time": -1})
    await writes.update_user(store.keeper, user.id, {"status": 2})
    await writes.update_channel(store.keeper, channel.id, {"priority": 7, "models": "gpt-4o"})
    await writes.set_option(store.keeper, "RetryTimes", 3)
    assert await follower.poll() == 5
    assert theirs.tokens_by_id[token.id].status == 2 and theirs.tokens[made["key"]].remain.value == 5
    assert theirs.users[user.id].status == 2
    assert theirs.channels[channel.id].priority == 7 and routes.table.models("default") == ["gpt-4o"]
    assert theirs.options.retry_times == 3
    await writes.delete_token(store.keeper, made["id"])
    await writes.delete_channels(store.keeper, [channel.id])
    await follower.poll()
    assert made["key"] not in theirs.tokens and channel.id not in theirs.channels
    assert await follower.poll() == 0  # nothing new: a poll reads nothing


async def test_a_change_that_commits_after_a_later_one_is_not_missed(store: Store) -> None:
    """Ids are taken in one order and committed in another: a missing id is looked for again until it appears."""
    _, token, _ = await store.seed()
    other = store.new_keeper()
    await other.reload()
    follower = ChangeFollower(other)
    await follower.start()
    last = follower.last
    sql = store.backend.sql
    await sql("INSERT INTO tollway_changes (id, kind, ref, origin, created_at) VALUES (:id, 'options', '', 'x', 1)",
              id=last + 3)
    assert await follower.poll() == 1 and set(follower.gaps) == {last + 1, last + 2}
    await sql("UPDATE tokens SET status = 2 WHERE id = :id", id=token.id)
    await sql("INSERT INTO tollway_changes (id, kind, ref, origin, created_at) VALUES (:id, 'token', :ref, 'x', 1)",
              id=last + 1, ref=str(token.id))  # the slower transaction commits now
    assert await follower.poll() == 1
    assert other.cache.tokens_by_id[token.id].status == 2 and set(follower.gaps) == {last + 2}


async def test_a_recall_makes_another_process_give_back_its_slice(store: Store) -> None:
    """Process B spends from slices of a user's quota and a token's remain (a busy slice is kept at a flush); A's
    recall of the user's reaches B's follower, and B's next flush gives that slice back."""
    user, token, channel = await store.seed(quota=1000, remain=1000)
    other = store.new_keeper()
    await other.reload()
    follower = ChangeFollower(other)
    await follower.start()
    ledger = Ledger(other.cache, other)
    theirs = other.cache.users[user.id]
    hold = await ledger.hold(other.cache.tokens_by_id[token.id], theirs, 50)
    ledger.settle(hold, 10, other.cache.channels[channel.id], None)
    assert theirs.quota.lease > 0
    await ChangeFollower(store.keeper).recall((USER, user.id))
    await follower.poll()
    await other.flush()
    assert theirs.quota.lease == 0
    rows = await store.backend.sql("SELECT kind FROM tollway_leases")
    assert rows == [{"kind": TOKEN}]  # the token's slice was not recalled
    assert await changes.prune(store.backend.engine, 2**40) > 0


async def test_a_job_turn_goes_to_one_process(store: Store) -> None:
    """Of several processes claiming a job's turn at once, one wins; the first look at a job only starts its clock."""
    engine = store.backend.engine
    assert not await markers.claim(engine, "test-job", 3600)
    assert not await markers.claim(engine, "test-job", 3600)  # one interval has not passed
    await store.backend.sql("UPDATE tollway_markers SET version = 0 WHERE name = 'job:test-job'")
    claims = [await markers.claim(store.new_keeper().engine, "test-job", 3600) for _ in range(3)]
    assert claims == [True, False, False]
