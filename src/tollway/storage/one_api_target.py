"""Tollway's side of a One API import (one_api_import/): what is already here, and the imported rows written.

Everything but the logs is written in one transaction (`import_transaction`); the logs go to the log database in
batches, each with the mark that says how far an import of that source has come.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import changes, charges, schema, writes
from tollway.storage.cache import Row

_users, _tokens, _channels = schema.users, schema.tokens, schema.channels
_options, _codes = schema.options, schema.redemptions


class ImportTarget:
    """Tollway's main database inside the import's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def user_ids_by_name(self) -> dict[str, int]:
        return {name: uid for uid, name in (await self._conn.execute(select(_users.c.id, _users.c.username))).all()}

    async def taken_user_values(self, column: str) -> set[Any]:
        """The values of a unique users column (access_token, aff_code) that some user holds."""
        query = select(_users.c[column]).where(_users.c[column].is_not(None))
        return set((await self._conn.execute(query)).scalars())

    async def insert_user(self, values: dict[str, Any]) -> int:
        result = await self._conn.execute(insert(_users).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def set_inviter(self, user_id: int, inviter_id: int) -> None:
        await self._conn.execute(update(_users).where(_users.c.id == user_id).values(inviter_id=inviter_id))

    async def token_keys(self) -> set[str]:
        return set((await self._conn.execute(select(_tokens.c.key))).scalars())

    async def insert_token(self, values: dict[str, Any]) -> None:
        await self._conn.execute(insert(_tokens).values(**values))

    async def channels(self) -> list[Row]:
        return list((await self._conn.execute(select(_channels))).mappings())

    async def insert_channel(self, values: dict[str, Any]) -> int:
        """Insert a channel with its abilities (the routes of its models and groups); answers its id."""
        result = await self._conn.execute(insert(_channels).values(**values))
        channel_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        stored = (await self._conn.execute(select(_channels).where(_channels.c.id == channel_id))).mappings().one()
        await writes.write_abilities(self._conn, stored)
        return channel_id

    async def option_texts(self) -> dict[str, str]:
        """Every stored option as its stored text."""
        return dict((await self._conn.execute(select(_options.c.key, _options.c.value))).all())

    async def put_option(self, key: str, text: str, *, stored: bool) -> None:
        """Set an option's text; `stored` says whether it has a row already."""
        if stored:
            await self._conn.execute(update(_options).where(_options.c.key == key).values(value=text))
        else:
            await self._conn.execute(insert(_options).values(key=key, value=text))

    async def code_keys(self) -> set[str]:
        return set((await self._conn.execute(select(_codes.c.key))).scalars())

    async def insert_code(self, values: dict[str, Any]) -> None:
        await self._conn.execute(insert(_codes).values(**values))

    async def record_change(self, kind: str, refs: Sequence[object] = ("",)) -> None:
        """Tell other processes to reload what changed (storage/changes.py), in this transaction."""
        await changes.record(self._conn, kind, refs)


@contextlib.asynccontextmanager
async def import_transaction(engine: AsyncEngine) -> AsyncIterator[ImportTarget]:
    """The main database in one transaction, committed when the block ends without an error."""
    async with engine.begin() as conn:
        yield ImportTarget(conn)


async def imported_logs_mark(log_engine: AsyncEngine, mark: str) -> int:
    """The id of the last source log an earlier import brought (0 for none)."""
    async with log_engine.connect() as conn:
        return await charges.read_mark(conn, mark)


async def write_imported_logs(log_engine: AsyncEngine, rows: Sequence[dict[str, Any]], mark: str, last: int) -> None:
    """Write a batch of imported logs (with their roll-ups) and, in the same transaction, the mark of the last."""
    async with log_engine.begin() as conn:
        await charges.write_logs(conn, rows)
        await charges.set_mark(conn, mark, last)
