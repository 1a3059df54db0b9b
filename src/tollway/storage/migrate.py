"""Run the Alembic migrations on the main database and, when separate, on the log database; a master's start.

Migrations take a lock first (PostgreSQL: an advisory lock in the migrating transaction; MySQL/MariaDB: a named
lock; SQLite: a lock file beside the database), so any number of nodes and workers may start together on an
empty or old database: one migrates, the others wait and then find the schema current. A slave never migrates;
it waits until a master has brought the schema up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.crypto import KeyBox
from tollway.settings import Settings
from tollway.storage import key_check, schema
from tollway.storage.bootstrap import announce, first_start

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "tollway_version"
_LOCK_NAME = "tollway_migrations"
_LOCK_KEY = 0x746F6C6C  # "toll", PostgreSQL's advisory lock key
_MYSQL_LOCK_WAIT_S = 3600
_SCHEMA_POLL_S = 2.0


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, role: str) -> None:
    config = _config()
    config.attributes["connection"] = connection
    config.attributes["role"] = role
    # "heads": independent branches of migrations (tables added by separate features) all apply.
    command.upgrade(config, "heads")


def heads() -> set[str]:
    """The revisions a current schema is at."""
    return set(ScriptDirectory.from_config(_config()).get_heads())


@contextlib.asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that only one process at a time gets, whichever node it runs on."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        path = engine.url.database
        lock_fd = -1
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            await asyncio.to_thread(fcntl.flock, lock_fd, fcntl.LOCK_EX)
        try:
            async with engine.begin() as conn:
                # Open the transaction now: the driver would begin one only at the first INSERT or UPDATE, leaving
                # every CREATE and ALTER before it committed on its own.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        finally:
            if lock_fd >= 0:
                os.close(lock_fd)
        return
    if dialect == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield conn
        return
    async with engine.connect() as conn:  # MySQL/MariaDB commit each ALTER: a session lock spans them
        got = (await conn.execute(text("SELECT GET_LOCK(:name, :wait)"),
                                  {"name": _LOCK_NAME, "wait": _MYSQL_LOCK_WAIT_S})).scalar()
        await conn.commit()
        if got != 1:
            raise RuntimeError("another node held the migration lock for an hour; is a migration stuck?")
        try:
            async with conn.begin():
                yield conn
        finally:
            await conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
            await conn.commit()


async def migrate(engine: AsyncEngine, *, role: str = "main") -> None:
    """Bring `engine`'s database to the latest schema; role "logs" creates only the logs table."""
    async with _migrating(engine) as connection:
        await connection.run_sync(_upgrade, role)


async def upgrade(engine: AsyncEngine, keybox: KeyBox, settings: Settings) -> None:
    """A master's start: migrations, the sealing key's check, the root account and sealing of plain keys.

    One transaction, so a start that fails anywhere leaves the database as it found it where DDL is transactional
    (SQLite, PostgreSQL). MySQL commits each ALTER at once: there every migration step checks before it acts, so
    the next start completes what a failed one began, and the data changes (sealing) are still all or nothing.
    """
    async with _migrating(engine) as connection:
        await connection.run_sync(_upgrade, "main")
        await key_check.verify(connection, keybox, record=True)
        password = await first_start(connection, keybox, settings)
    announce(password)


def _schema_at(connection: Connection, wanted: set[str], tables: tuple[str, ...]) -> bool:
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    if not set(tables) <= present:
        return False
    if not wanted:
        return True
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return wanted <= set(rows)


async def wait_for_schema(engine: AsyncEngine, *, role: str = "main", poll: float = _SCHEMA_POLL_S) -> None:
    """A slave's start: wait (logging now and then) until a master has created or upgraded the schema."""
    wanted, tables = (heads(), (VERSION_TABLE, schema.users.name)) if role == "main" else (set(), (schema.logs.name,))
    noted = -math.inf
    while True:
        try:
            async with engine.connect() as connection:
                if await connection.run_sync(_schema_at, wanted, tables):
                    return
            why = "the schema is not up to date yet"
        except Exception as exc:  # the database is not up yet either
            why = f"the database cannot be reached ({type(exc).__name__})"
        if time.monotonic() - noted >= 30:
            log.warning("NODE_TYPE=slave: waiting for a master node to migrate the %s database: %s", role, why)
            noted = time.monotonic()
        await asyncio.sleep(poll)


async def check_key(engine: AsyncEngine, keybox: KeyBox) -> None:
    """A slave's start: only the sealing key's check (slaves never change the schema)."""
    async with engine.connect() as connection:
        if await connection.run_sync(lambda sync: inspect(sync).has_table(schema.key_checks.name)):
            await key_check.verify(connection, keybox, record=False)
