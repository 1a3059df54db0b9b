"""Writes to the cached tables, made under the keeper's lock and reflected in the cache as they commit.

Management routes change users, tokens, channels and options only through these functions, so a
batch flush or a reload can never interleave with them (see storage/keeper.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.constants import LogType, RedemptionStatus
from tollway.options import Options, serialize
from tollway.storage import changes, rollups, schema
from tollway.storage.cache import Row, abilities, split_list
from tollway.storage.keeper import Keeper, read_options
from tollway.storage.leases import TOKEN, USER


async def _record(keeper: Keeper, conn: AsyncConnection, kind: str, refs: Sequence[object] = ("",)) -> None:
    """Record the change in the write's transaction, for other processes (storage/changes.py)."""
    await changes.record(conn, kind, refs, origin=keeper.leases.owner)


def _announce(keeper: Keeper, kind: str, refs: Iterable[object]) -> None:
    """After the commit: tell other processes at once (operations/changes.py), and give back this process's slice of
    a user or token whose balance an operator may have set, so that the new figure governs from the next take."""
    for ref in refs:
        if kind in (changes.USER, changes.TOKEN):
            keeper.leases.changed((USER if kind == changes.USER else TOKEN, int(str(ref))))
        if keeper.announce is not None:
            keeper.announce(kind, str(ref))


async def _one(conn: AsyncConnection, table: Any, row_id: int) -> Row:
    row = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().first()
    if row is None:
        raise LookupError(f"{table.name} {row_id} vanished")
    return row


# -- users ---------------------------------------------------------------------------------------------------


async def insert_user(keeper: Keeper, values: dict[str, Any]) -> Row:
    async with keeper.lock, keeper.engine.begin() as conn:
        result = await conn.execute(insert(schema.users).values(**values))
        row = await _one(conn, schema.users, result.inserted_primary_key[0])  # type: ignore[index]
        await _record(keeper, conn, changes.USER, [row["id"]])
    keeper.cache.put_user(row)
    _announce(keeper, changes.USER, [row["id"]])
    return row


async def update_user(keeper: Keeper, user_id: int, values: dict[str, Any]) -> Row:
    """Set fields of a user; setting `quota` replaces the balance as it stands once charges so far are written.

    The flush first keeps the journal and the database in step: a charge settled before the new balance is
    absorbed by it, one settled while this write runs is taken from it.
    """
    async with keeper.lock:
        if "quota" in values:
            await keeper.flush_locked()
        async with keeper.engine.begin() as conn:
            await _record(keeper, conn, changes.USER, [user_id])
            if values:
                await conn.execute(update(schema.users).where(schema.users.c.id == user_id).values(**values))
            row = await _one(conn, schema.users, user_id)
    keeper.cache.put_user(row)
    _announce(keeper, changes.USER, [user_id])
    return row


async def add_user_quota(keeper: Keeper, user_id: int, amount: int) -> Row:
    """Add to (or take from) a user's quota as a delta, so charges in flight are kept."""
    async with keeper.lock, keeper.engine.begin() as conn:
        await _record(keeper, conn, changes.USER, [user_id])
        await conn.execute(update(schema.users).where(schema.users.c.id == user_id)
                           .values(quota=schema.users.c.quota + amount))
        row = await _one(conn, schema.users, user_id)
    keeper.cache.put_user(row)
    _announce(keeper, changes.USER, [user_id])
    return row


# -- tokens --------------------------------------------------------------------------------------------------


async def insert_token(keeper: Keeper, values: dict[str, Any]) -> Row:
    async with keeper.lock, keeper.engine.begin() as conn:
        result = await conn.execute(insert(schema.tokens).values(**values))
        row = await _one(conn, schema.tokens, result.inserted_primary_key[0])  # type: ignore[index]
        await _record(keeper, conn, changes.TOKEN, [row["id"]])
    keeper.cache.put_token(row)
    _announce(keeper, changes.TOKEN, [row["id"]])
    return row


async def update_token(keeper: Keeper, token_id: int, values: dict[str, Any]) -> Row:
    """Set fields of a token; setting `remain_quota` replaces the balance like `update_user` does."""
    async with keeper.lock:
        if "remain_quota" in values:
            await keeper.flush_locked()
        async with keeper.engine.begin() as conn:
            await _record(keeper, conn, changes.TOKEN, [token_id])
            await conn.execute(update(schema.tokens).where(schema.tokens.c.id == token_id).values(**values))
            row = await _one(conn, schema.tokens, token_id)
    keeper.cache.put_token(row)
    _announce(keeper, changes.TOKEN, [token_id])
    return row


async def delete_token(keeper: Keeper, token_id: int) -> None:
    async with keeper.lock, keeper.engine.begin() as conn:
        await _record(keeper, conn, changes.TOKEN, [token_id])
        await conn.execute(delete(schema.tokens).where(schema.tokens.c.id == token_id))
    keeper.cache.drop_token(token_id)
    _announce(keeper, changes.TOKEN, [token_id])


# -- channels (and their abilities) --------------------------------------------------------------------------


async def write_abilities(conn: AsyncConnection, row: Row) -> None:
    """Rebuild a channel's abilities: its groups × models, enabled while the channel is (One API's rule)."""
    await conn.execute(delete(schema.abilities).where(schema.abilities.c.channel_id == row["id"]))
    pairs = list(abilities(split_list(row["group"]) or ["default"], split_list(row["models"])))
    if pairs:
        await conn.execute(insert(schema.abilities), [
            {"group": group, "model": model, "channel_id": row["id"], "enabled": row["status"] == 1,
             "priority": row["priority"] or 0}
            for group, model in pairs
        ])


async def insert_channels(keeper: Keeper, rows: Sequence[dict[str, Any]]) -> list[Row]:
    created: list[Row] = []
    async with keeper.lock, keeper.engine.begin() as conn:
        for values in rows:
            result = await conn.execute(insert(schema.channels).values(**values))
            row = await _one(conn, schema.channels, result.inserted_primary_key[0])  # type: ignore[index]
            await write_abilities(conn, row)
            created.append(row)
        await _record(keeper, conn, changes.CHANNEL, [row["id"] for row in created])
    for row in created:
        keeper.cache.put_channel(row, announce=False)
    keeper.cache.channels_changed()
    _announce(keeper, changes.CHANNEL, [row["id"] for row in created])
    return created


async def update_channel(keeper: Keeper, channel_id: int, values: dict[str, Any]) -> Row:
    async with keeper.lock, keeper.engine.begin() as conn:
        await _record(keeper, conn, changes.CHANNEL, [channel_id])
        if values:
            await conn.execute(update(schema.channels).where(schema.channels.c.id == channel_id).values(**values))
        row = await _one(conn, schema.channels, channel_id)
        await write_abilities(conn, row)
    keeper.cache.put_channel(row)
    _announce(keeper, changes.CHANNEL, [channel_id])
    return row


async def set_channel_status(keeper: Keeper, channel_id: int, status: int, reason: str, *,
                             only_from: Iterable[int] | None = None) -> Row | None:
    """Switch a channel on or off on Tollway's own account, keeping why and when; None when the channel is gone
    or its status is not one of `only_from` (an operator's choice made meanwhile is never overridden)."""
    table = schema.channels
    condition = table.c.id == channel_id
    if only_from is not None:
        condition = condition & table.c.status.in_(list(only_from))
    async with keeper.lock, keeper.engine.begin() as conn:
        result = await conn.execute(update(table).where(condition).values(
            status=status, status_reason=reason[:1000], status_time=int(time.time())))
        if not result.rowcount:
            return None
        row = await _one(conn, table, channel_id)
        await write_abilities(conn, row)
        await _record(keeper, conn, changes.CHANNEL, [channel_id])
    keeper.cache.put_channel(row)
    _announce(keeper, changes.CHANNEL, [channel_id])
    return row


async def delete_channels(keeper: Keeper, channel_ids: Iterable[int]) -> int:
    ids = list(channel_ids)
    if not ids:
        return 0
    async with keeper.lock, keeper.engine.begin() as conn:
        await _record(keeper, conn, changes.CHANNEL, ids)
        await conn.execute(delete(schema.abilities).where(schema.abilities.c.channel_id.in_(ids)))
        result = await conn.execute(delete(schema.channels).where(schema.channels.c.id.in_(ids)))
    for channel_id in ids:
        keeper.cache.channels.pop(channel_id, None)
    keeper.cache.channels_changed()
    _announce(keeper, changes.CHANNEL, ids)
    return result.rowcount or 0


# -- options and logs ------------------------------------------------------------------------------------------


async def set_option(keeper: Keeper, key: str, value: Any) -> None:
    """Store an already validated option value and apply it at once."""
    text = serialize(key, value)
    async with keeper.lock, keeper.engine.begin() as conn:
        # Recorded first (a write before any read: see storage/database.py begin_write); other processes reload the
        # options when they see it.
        await _record(keeper, conn, changes.OPTIONS)
        found = await conn.execute(select(schema.options.c.key).where(schema.options.c.key == key))
        if found.first() is None:
            await conn.execute(insert(schema.options).values(key=key, value=text))
        else:
            await conn.execute(update(schema.options).where(schema.options.c.key == key).values(value=text))
        stored = await read_options(conn)
    keeper.cache.options = Options(stored)
    _announce(keeper, changes.OPTIONS, [""])


async def write_log(keeper: Keeper, *, user_id: int, username: str, kind: int, content: str, quota: int = 0,
                    **extra: Any) -> None:
    """Write a management log (top-up, manage, system, test) right away; they are rare and must not wait."""
    row = {"user_id": user_id, "username": username, "type": kind, "content": content, "quota": quota,
           "created_at": int(time.time()), **extra}
    async with keeper.log_engine.begin() as conn:
        await conn.execute(insert(schema.logs).values(**row))
        await rollups.add(conn, [row])


# -- operations: redemption codes, channel test results and balances ------------------------------------------



class RedeemRefused(Exception):
    """The code does not exist, is disabled, or was redeemed already; nothing changed."""


async def redeem(keeper: Keeper, key: str, user_id: int) -> tuple[Row, Row]:
    """Use an enabled code for a user and credit its quota in one transaction; answers (code, user).

    The conditional UPDATE (status 1 → 3) decides: of any number of concurrent attempts, on any number of nodes,
    exactly one changes the row and credits the quota; every other attempt finds no enabled code and changes nothing.
    """
    codes, users = schema.redemptions, schema.users
    now = int(time.time())
    async with keeper.lock, keeper.engine.begin() as conn:
        # The UPDATE comes first so that SQLite takes its write lock at once (a read first could not upgrade later).
        used = await conn.execute(update(codes).where(codes.c.key == key, codes.c.status == RedemptionStatus.ENABLED)
                                  .values(status=RedemptionStatus.USED, redeemed_time=now, used_user_id=user_id))
        code = (await conn.execute(select(codes).where(codes.c.key == key))).mappings().first()
        if code is None:
            raise RedeemRefused("invalid redemption code")
        if used.rowcount != 1:
            raise RedeemRefused("this redemption code is disabled" if code["status"] == RedemptionStatus.DISABLED
                                else "this redemption code has already been used")
        quota = int(code["quota"] or 0)
        balance = (await conn.execute(select(users.c.quota).where(users.c.id == user_id))).scalar()
        if balance is None:
            raise RedeemRefused("user not found")
        if int(balance) + quota > 2**63 - 1:
            raise RedeemRefused("the code would make the quota larger than the database can hold")
        await conn.execute(update(users).where(users.c.id == user_id).values(quota=users.c.quota + quota))
        await _record(keeper, conn, changes.USER, [user_id])
        user = await _one(conn, users, user_id)
        log = {"user_id": user_id, "username": user["username"], "type": LogType.TOPUP, "quota": quota,
               "created_at": now, "content": f"redeemed code #{code['id']} \"{code['name']}\" for {quota} quota"}
        if keeper.log_engine is keeper.engine:
            await conn.execute(insert(schema.logs).values(**log))
    keeper.cache.put_user(user)
    _announce(keeper, changes.USER, [user_id])
    if keeper.log_engine is not keeper.engine:
        async with keeper.log_engine.begin() as log_conn:
            await log_conn.execute(insert(schema.logs).values(**log))
    return code, user


async def set_code_status(keeper: Keeper, code_id: int, status: int) -> bool:
    """Enable or disable a code that is not used yet (never resurrects a used one); answers whether it changed."""
    codes = schema.redemptions
    async with keeper.engine.begin() as conn:
        result = await conn.execute(update(codes).where(codes.c.id == code_id, codes.c.status != RedemptionStatus.USED)
                                    .values(status=status))
    return bool(result.rowcount)


def replace_row(dialect: str, table: Any, row: dict[str, Any], keys: Sequence[str]) -> Any:
    """INSERT a row, or overwrite the one with the same key, in each database's dialect."""
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table).values(row)
        return stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in row if name not in keys})
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(row)
    return stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={name: stmt.excluded[name] for name in row if name not in keys})


async def record_channel_test(keeper: Keeper, channel_id: int, response_time: int, result: dict[str, Any]) -> None:
    """Store a channel's latest test (latency in ms, 0 when it failed) and the tested model's result row."""
    channels = schema.channels
    async with keeper.lock, keeper.engine.begin() as conn:
        await conn.execute(update(channels).where(channels.c.id == channel_id)
                           .values(response_time=response_time, test_time=result["test_at"]))
        await conn.execute(replace_row(conn.dialect.name, schema.channel_tests, result, ("channel_id", "model")))


async def set_channel_balance(keeper: Keeper, channel_id: int, balance: float, updated: int) -> None:
    """Store a channel's balance as its provider reported it."""
    channels = schema.channels
    async with keeper.lock, keeper.engine.begin() as conn:
        await conn.execute(update(channels).where(channels.c.id == channel_id)
                           .values(balance=balance, balance_updated_time=updated))


async def save_state(keeper: Keeper, name: str, value: dict[str, Any]) -> None:
    """Store a shared operation state (a channel test run's progress) for every worker to read."""
    row = {"name": name, "value": orjson.dumps(value).decode(), "updated_at": int(time.time())}
    async with keeper.engine.begin() as conn:
        await conn.execute(replace_row(conn.dialect.name, schema.state, row, ("name",)))


async def read_state(keeper: Keeper, name: str) -> tuple[dict[str, Any], int] | None:
    """A shared operation state and when it was stored, or None."""
    async with keeper.engine.connect() as conn:
        found = (await conn.execute(select(schema.state.c.value, schema.state.c.updated_at)
                                    .where(schema.state.c.name == name))).first()
    if found is None or not found[0]:
        return None
    value = orjson.loads(found[0])
    return (value, int(found[1] or 0)) if isinstance(value, dict) else None
