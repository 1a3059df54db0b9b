"""Migrations: a fresh database gets One API's schema plus Tollway's columns; a One API database upgrades in place
(test_one_api_takeover.py takes over One API databases of every age)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.storage import one_api
from tests.storage.conftest import Backend
from tollway.crypto import KeyBox, instance_secret
from tollway.settings import Settings
from tollway.storage import schema
from tollway.storage.database import create_engine, main_url, sqlite_url
from tollway.storage.migrate import MIGRATIONS, migrate, upgrade, wait_for_schema

# One API's columns (reference/one-api.md §2), which an imported database and Tollway must agree on.
ONE_API_COLUMNS = {
    "users": {"id", "username", "password", "display_name", "role", "status", "email", "github_id", "wechat_id",
              "lark_id", "oidc_id", "access_token", "quota", "used_quota", "request_count", "group", "aff_code",
              "inviter_id"},
    "channels": {"id", "type", "key", "status", "name", "weight", "created_time", "test_time", "response_time",
                 "base_url", "other", "balance", "balance_updated_time", "models", "group", "used_quota",
                 "model_mapping", "priority", "config", "system_prompt"},
    "tokens": {"id", "user_id", "key", "status", "name", "created_time", "accessed_time", "expired_time",
               "remain_quota", "unlimited_quota", "used_quota", "models", "subnet"},
    "abilities": {"group", "model", "channel_id", "enabled", "priority"},
    "logs": {"id", "user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
             "prompt_tokens", "completion_tokens", "channel_id", "request_id", "elapsed_time", "is_stream",
             "system_prompt_reset"},
    "options": {"key", "value"},
    "redemptions": {"id", "user_id", "key", "status", "name", "quota", "created_time", "redeemed_time"},
}
TOLLWAY_COLUMNS = {"logs": {"first_byte_time", "upstream_model", "inbound_api", "code", "retry_times", "ip", "endpoint",
                            "cached_tokens"},
                   "redemptions": {"used_user_id"},
                   "channels": {"status_reason", "status_time"}, "tokens": {"rpm_limit", "tpm_limit", "leased"},
                   "users": {"leased"}}

# What a separate log database holds: the logs, their roll-ups and monitoring sums, kept bodies and journal marks.
LOG_TABLES = {"logs", "log_rollups", "tollway_markers", "tollway_version", "tollway_log_details",
              "tollway_call_minutes", "tollway_call_quarters"}


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Tables with their columns and indexes, to compare schemas across runs."""
    inspector = inspect(conn)
    return {
        name: {
            "columns": {column["name"] for column in inspector.get_columns(name)},
            "indexes": sorted(index["name"] or "" for index in inspector.get_indexes(name)),
        }
        for name in inspector.get_table_names()
    }


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_snapshot)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def head_version(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT version_num FROM tollway_version")
        return [row[0] for row in rows]


async def test_fresh_database_gets_every_table_and_column(backend: Backend) -> None:
    """A fresh database ends with One API's seven tables, their columns, Tollway's additions and a version row."""
    await migrate(backend.engine)
    tables = await snapshot(backend.engine)
    assert set(tables) == set(schema.metadata.tables) | {"tollway_version"} and set(ONE_API_COLUMNS) <= set(tables)
    for name, columns in ONE_API_COLUMNS.items():
        assert tables[name]["columns"] == columns | TOLLWAY_COLUMNS.get(name, set()), name
        assert tables[name]["columns"] == set(schema.metadata.tables[name].columns.keys()), name
    # One row per head: features add independent branches of migrations (migrate runs `upgrade heads`).
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    assert sorted(await head_version(backend.engine)) == sorted(heads)


async def test_migrate_twice_is_a_no_op(backend: Backend) -> None:
    """A second migrate changes neither the schema, the version nor the data (every master start runs it)."""
    await migrate(backend.engine)
    await backend.sql(f"INSERT INTO options ({backend.quote('key')}, value) VALUES ('Notice', 'hello')")
    before, version = await snapshot(backend.engine), await head_version(backend.engine)
    await migrate(backend.engine)
    assert await snapshot(backend.engine) == before
    assert await head_version(backend.engine) == version
    assert await backend.sql("SELECT value FROM options") == [{"value": "hello"}]


async def test_new_ids_continue_after_imported_rows(backend: Backend) -> None:
    """Rows inserted after the import get fresh ids rather than colliding with One API's."""
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn)
    await migrate(backend.engine)
    async with backend.engine.begin() as conn:
        result = await conn.execute(schema.logs.insert().values(user_id=2, type=2, quota=1, created_at=1))
        assert result.inserted_primary_key is not None and result.inserted_primary_key[0] > 11


async def test_log_role_creates_only_logs(backend: Backend) -> None:
    """On a separate LOG_SQL_DSN database, role="logs" creates the logs table (with Tollway's columns), its roll-ups,
    monitoring sums, kept bodies and the journal marks, and no other."""
    logs_engine = backend.logs_engine()
    await migrate(logs_engine, role="logs")
    tables = await snapshot(logs_engine)
    assert set(tables) == LOG_TABLES
    assert tables["logs"]["columns"] == ONE_API_COLUMNS["logs"] | TOLLWAY_COLUMNS["logs"]
    await migrate(logs_engine, role="logs")
    assert await snapshot(logs_engine) == tables


async def test_log_role_upgrades_one_api_log_database(backend: Backend) -> None:
    """One API's separate log database keeps its logs and gains `first_byte_time`."""
    logs_engine = backend.logs_engine()
    async with logs_engine.begin() as conn:
        await one_api.create_one_api_database(conn, only=("logs",))
    await migrate(logs_engine, role="logs")
    assert set(await snapshot(logs_engine)) == LOG_TABLES
    rows = await backend.sql("SELECT quota, first_byte_time FROM logs", engine=logs_engine)
    assert rows == [{"quota": 25, "first_byte_time": 0}]


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    """SQLite databases use WAL (readers never wait for the batch writer) and keep it for the next process."""
    path = tmp_path / "data" / "tollway.db"
    settings = Settings.from_env({"SQLITE_PATH": str(path), "SQLITE_BUSY_TIMEOUT": "4500"}, dotenv=None)
    engine = create_engine(sqlite_url(path), settings)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 4500
    finally:
        await engine.dispose()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_masters_starting_together_migrate_once(backend: Backend) -> None:
    """Four masters started at once on an empty database: one migrates and creates root under the migration lock,
    the others wait for it and find the schema current (no concurrent CREATE TABLE)."""
    settings = backend.settings_with(INITIAL_ROOT_PASSWORD="a-root-password-for-tests")
    keybox = KeyBox(instance_secret(settings.encryption_key, settings.data_dir))
    engines = [backend.new_engine(main_url(settings)) for _ in range(4)]
    await asyncio.gather(*(upgrade(engine, keybox, settings) for engine in engines))
    assert await backend.sql("SELECT username FROM users") == [{"username": "root"}]
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    assert sorted(await head_version(backend.engine)) == sorted(heads)


async def test_a_slave_waits_for_the_schema(backend: Backend) -> None:
    """A slave started before any master waits (instead of failing on a missing table) until the schema is current."""
    waiting = asyncio.create_task(wait_for_schema(backend.engine, poll=0.05))
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert not waiting.done()
    await migrate(backend.engine)
    await asyncio.wait_for(waiting, 60)
