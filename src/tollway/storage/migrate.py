"""Run the Alembic migrations on the main database and, when separate, on the log database; a master's start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.crypto import KeyBox
from tollway.settings import Settings
from tollway.storage import key_check, schema
from tollway.storage.bootstrap import announce, first_start

MIGRATIONS = Path(__file__).parent / "migrations"


def _upgrade(connection: Connection, role: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["role"] = role
    # "heads": independent branches of migrations (tables added by separate features) all apply.
    command.upgrade(config, "heads")


async def _begin(connection: AsyncConnection) -> None:
    """Open the transaction now on SQLite: its driver would begin one only at the first INSERT or UPDATE, leaving
    every CREATE and ALTER before it committed on its own."""
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("BEGIN")


async def migrate(engine: AsyncEngine, *, role: str = "main") -> None:
    """Bring `engine`'s database to the latest schema; role "logs" creates only the logs table."""
    async with engine.begin() as connection:
        await _begin(connection)
        await connection.run_sync(_upgrade, role)


async def upgrade(engine: AsyncEngine, keybox: KeyBox, settings: Settings) -> None:
    """A master's start: migrations, the sealing key's check, the root account and sealing of plain keys.

    One transaction, so a start that fails anywhere leaves the database as it found it where DDL is transactional
    (SQLite, PostgreSQL). MySQL commits each ALTER at once: there every migration step checks before it acts, so
    the next start completes what a failed one began, and the data changes (sealing) are still all or nothing.
    """
    async with engine.begin() as connection:
        await _begin(connection)
        await connection.run_sync(_upgrade, "main")
        await key_check.verify(connection, keybox, record=True)
        password = await first_start(connection, keybox, settings)
    announce(password)


async def check_key(engine: AsyncEngine, keybox: KeyBox) -> None:
    """A slave's start: only the sealing key's check (slaves never change the schema)."""
    async with engine.connect() as connection:
        if await connection.run_sync(lambda sync: inspect(sync).has_table(schema.key_checks.name)):
            await key_check.verify(connection, keybox, record=False)
