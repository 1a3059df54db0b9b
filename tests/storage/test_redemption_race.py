"""Redeeming one code from many nodes at once, on each database: exactly one attempt credits it."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import insert

from tests.storage.conftest import Store, make_keeper
from tollway.constants import LogType
from tollway.storage import schema, writes
from tollway.storage.database import main_url

NODES = 4
ATTEMPTS = 40


async def test_one_code_many_nodes_one_credit(store: Store) -> None:
    """Forty simultaneous redemptions through four keepers (own engines and locks, like four processes)."""
    backend = store.backend
    alice, _, _ = await store.seed(quota=1000, name="alice")
    bob, _, _ = await store.seed(quota=2000, name="bob")
    key = secrets.token_hex(16)
    async with backend.engine.begin() as conn:
        await conn.execute(insert(schema.redemptions).values(key=key, name="race", quota=777, status=1, user_id=1,
                                                             created_time=1))
    keepers = [make_keeper(backend, backend.new_engine(main_url(backend.settings))) for _ in range(NODES)]
    for keeper in keepers:
        await keeper.reload()
    start = asyncio.Event()

    async def attempt(index: int) -> int | None:
        keeper = keepers[index % NODES]
        user = (alice, bob)[index % 2]
        await start.wait()
        try:
            await writes.redeem(keeper, key, user.id)
        except writes.RedeemRefused as exc:
            assert "already been used" in str(exc)
            return None
        return user.id

    tasks = [asyncio.create_task(attempt(i)) for i in range(ATTEMPTS)]
    await asyncio.sleep(0.05)
    start.set()
    winners = [user_id for user_id in await asyncio.gather(*tasks) if user_id is not None]
    assert len(winners) == 1
    winner = winners[0]
    quotas = {int(r["id"]): int(r["quota"]) for r in await backend.sql("SELECT id, quota FROM users")}
    assert quotas[alice.id] == 1000 + (777 if winner == alice.id else 0)
    assert quotas[bob.id] == 2000 + (777 if winner == bob.id else 0)
    [code] = await backend.sql("SELECT status, used_user_id, redeemed_time FROM redemptions")
    assert (code["status"], code["used_user_id"]) == (3, winner) and code["redeemed_time"] > 0
    logs = await backend.sql("SELECT user_id, quota, type FROM logs")
    assert logs == [{"user_id": winner, "quota": 777, "type": LogType.TOPUP}]
    # The node that credited it knows the new balance at once; the others learn it at their next reload.
    assert any(k.cache.users[winner].quota.value == quotas[winner] for k in keepers)


async def test_refused_redemptions_change_nothing(store: Store) -> None:
    """An unknown, disabled or overflowing code leaves the code, the user and the logs as they were."""
    backend = store.backend
    user, _, _ = await store.seed(quota=2**63 - 10, name="rich")
    async with backend.engine.begin() as conn:
        await conn.execute(insert(schema.redemptions), [
            {"key": "d" * 32, "name": "off", "quota": 5, "status": 2, "user_id": 1, "created_time": 1},
            {"key": "o" * 32, "name": "big", "quota": 100, "status": 1, "user_id": 1, "created_time": 1}])
    for key, fragment in (("u" * 32, "invalid"), ("d" * 32, "disabled"), ("o" * 32, "larger")):
        try:
            await writes.redeem(store.keeper, key, user.id)
        except writes.RedeemRefused as exc:
            assert fragment in str(exc)
        else:
            raise AssertionError(f"{key} was redeemed")
    assert [r["status"] for r in await backend.sql("SELECT status FROM redemptions ORDER BY id")] == [2, 1]
    assert await backend.sql("SELECT quota FROM users WHERE id = :id", id=user.id) == [{"quota": 2**63 - 10}]
    assert await backend.sql("SELECT id FROM logs") == []
