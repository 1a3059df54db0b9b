"""Taking over One API databases of several ages (made from One API's GORM models) on SQLite, PostgreSQL and MariaDB:
a master's start keeps every row, widens what Tollway outgrows, seals the keys, and a failed start changes nothing."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.storage import one_api
from tests.storage.conftest import Backend, make_keeper
from tests.storage.test_migrations import ONE_API_COLUMNS, TOLLWAY_COLUMNS, head_version, snapshot
from tollway.crypto import KeyBox, instance_secret
from tollway.routing.current import CurrentRoutes
from tollway.storage import schema
from tollway.storage.migrate import upgrade

# (release that made the database, release that later upgraded it in place, if any)
AGES = [("v0.5.0", None), ("v0.6.1", None), ("v0.6.1", "v0.6.10"), ("v0.6.10", None), ("v0.6.11", None)]
# A modern OpenAI project key: 164 characters, so its sealed form (260) outgrows One API's old varchar(191).
PROJECT_KEY = "sk-proj-" + "A1b2C3d4" * 19 + "Zz9Yy8Xx"
# A Vertex AI service account, about 2.4 KB: sealed, it outgrows PostgreSQL's B-tree row limit (2704 bytes).
VERTEX_KEY = json.dumps({
    "type": "service_account", "project_id": "tollway-test", "private_key_id": secrets.token_hex(20),
    "private_key": "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(secrets.token_bytes(1600)).decode()
                   + "\n-----END PRIVATE KEY-----\n",
    "client_email": "relay@tollway-test.iam.gserviceaccount.com", "client_id": "1" * 21,
    "token_uri": "https://oauth2.googleapis.com/token"})


def keybox(backend: Backend) -> KeyBox:
    return KeyBox(instance_secret(backend.settings.encryption_key, backend.settings.data_dir))


async def make(backend: Backend, release: str, upgraded_to: str | None = None) -> None:
    if backend.name == "postgresql" and not one_api.RELEASES[release].postgres:
        pytest.skip(f"One API {release} could not run on PostgreSQL")
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn, release, upgraded_to=upgraded_to)


async def add_channel(backend: Backend, channel_id: int, kind: int, key: str) -> None:
    await backend.sql(f"INSERT INTO channels (id, type, {backend.quote('key')}, status, name, models) "
                      "VALUES (:id, :type, :key, 1, :name, 'gpt-4o-mini')", id=channel_id, type=kind, key=key,
                      name=f"channel {channel_id}")


def _types(conn: Connection) -> dict[str, dict[str, str]]:
    inspector = sa.inspect(conn)
    return {name: {c["name"]: str(c["type"]) for c in inspector.get_columns(name)}
            for name in inspector.get_table_names()}


async def everything(backend: Backend) -> dict[str, Any]:
    """The whole database: tables, columns with their types, indexes, and every row of every table."""
    async with backend.engine.connect() as conn:
        types = await conn.run_sync(_types)
        rows = {name: sorted(((dict(row) for row in (await conn.execute(sa.text(f"SELECT * FROM {name}"))).mappings()
                               )), key=repr) for name in types}
    return {"schema": await snapshot(backend.engine), "types": types, "rows": rows}


def project(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with only the columns `like`'s rows have."""
    columns = set(like[0]) if like else set()
    return [{k: v for k, v in row.items() if k in columns} for row in rows]


@pytest.mark.parametrize(("release", "upgraded_to"), AGES)
async def test_a_one_api_database_is_taken_over(backend: Backend, release: str, upgraded_to: str | None) -> None:
    """Every row stays; missing columns come with One API's defaults; keys are sealed and open; One API's
    indexes stay but the legacy `idx_channels_key`; a second start changes nothing."""
    await make(backend, release, upgraded_to)
    box = keybox(backend)
    await upgrade(backend.engine, box, backend.settings)
    tables = await snapshot(backend.engine)
    for name, names in ONE_API_COLUMNS.items():
        assert tables[name]["columns"] == names | TOLLWAY_COLUMNS.get(name, set()), name
    assert "idx_channels_key" not in tables["channels"]["indexes"]
    assert {"idx_channels_name", "idx_tokens_name", "idx_users_display_name"} <= {
        index for name in ("channels", "tokens", "users") for index in tables[name]["indexes"]}
    missing = one_api.missing_columns(release if upgraded_to is None else upgraded_to)
    async with backend.engine.connect() as conn:
        found = {name: [dict(row) for row in (await conn.execute(sa.select(schema.metadata.tables[name]))).mappings()]
                 for name in one_api.ROWS}
    for name, rows in one_api.ROWS.items():
        keys = {"abilities": ("group", "model", "channel_id"), "options": ("key",)}.get(name, ("id",))
        stored = {tuple(row[k] for k in keys): row for row in found[name]}
        assert len(stored) == len(rows), name
        for row in rows:
            kept = stored[tuple(row[k] for k in keys)]
            for col, value in row.items():
                if col not in missing[name] and (name, col) != ("channels", "key"):  # that key is sealed now
                    assert kept[col] == value, (name, col)
    old_log, old_token = found["logs"][0], found["tokens"][0]
    assert (old_log["elapsed_time"], old_log["is_stream"], old_log["request_id"]) == (0, False, "")
    assert (old_token["subnet"], old_token["models"]) == ("", None)
    [sealed] = [row["key"] for row in found["channels"]]
    assert KeyBox.is_sealed(sealed) and box.open(sealed) == one_api.PLAIN_CHANNEL_KEY
    keeper = make_keeper(backend, backend.engine)
    routes = CurrentRoutes(keeper.cache)
    await keeper.reload()
    token = keeper.cache.tokens[one_api.TOKEN_KEY]
    assert (token.user_id, token.remain.value, token.used.value, token.unlimited) == (2, 400, 25, False)
    assert keeper.cache.users[2].group == "vip" and keeper.cache.users[1].role == 100
    assert keeper.cache.channels[3].key == one_api.PLAIN_CHANNEL_KEY
    assert routes.table.models("vip") == ["gpt-3.5-turbo", "gpt-4o-mini"]
    before = await everything(backend)
    await upgrade(backend.engine, box, backend.settings)
    assert await everything(backend) == before


@pytest.mark.parametrize(("release", "upgraded_to"), [("v0.6.1", None), ("v0.6.1", "v0.6.10")])
async def test_sealed_keys_fit_a_database_from_before_v0_6_2(backend: Backend, release: str,
                                                             upgraded_to: str | None) -> None:
    """channels.key was varchar(191) NOT NULL with an index: the start widens it and drops the index before
    sealing, so a 164-character key (MariaDB) and a 2.4 KB service account (PostgreSQL's B-tree) fit."""
    await make(backend, release, upgraded_to)
    await add_channel(backend, 4, 1, PROJECT_KEY)
    # Only a TEXT column holds the service account in plain text (MySQL's varchar(191) never could).
    vertex = backend.name != "mariadb" or upgraded_to is not None
    if vertex:
        await add_channel(backend, 5, 42, VERTEX_KEY)
    box = keybox(backend)
    await upgrade(backend.engine, box, backend.settings)
    keys = {row["id"]: row["k"] for row in await backend.sql(f"SELECT id, {backend.quote('key')} AS k FROM channels")}
    assert len(keys[4]) > 191 and box.open(keys[4]) == PROJECT_KEY
    assert not vertex or box.open(keys[5]) == VERTEX_KEY
    async with backend.engine.connect() as conn:
        types = await conn.run_sync(_types)
    if backend.name != "sqlite":  # SQLite enforces no length: only its index is dropped
        assert "TEXT" in types["channels"]["key"].upper() and "(" not in types["channels"]["key"]
        # One API's 32-bit quota columns before v0.6.2, and its short group and mapping columns, are widened.
        assert types["users"]["quota"].upper() == "BIGINT" and types["channels"]["group"].upper() == "VARCHAR(255)"
        assert "TEXT" in types["channels"]["model_mapping"].upper()
        big = 10**12
        await backend.sql("UPDATE users SET quota = :q WHERE id = 2", q=big)
        assert await backend.sql("SELECT quota FROM users WHERE id = 2") == [{"quota": big}]
    keeper = make_keeper(backend, backend.engine)
    await keeper.reload()
    assert keeper.cache.channels[4].key == PROJECT_KEY
    assert not vertex or keeper.cache.channels[5].key == VERTEX_KEY


_TRIGGERS = {
    "sqlite": ["CREATE TRIGGER refuse_sealing BEFORE UPDATE ON channels WHEN NEW.id = 4 "
               "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"],
    "postgresql": ["CREATE FUNCTION refuse_sealing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.id = 4 THEN RAISE EXCEPTION 'disk full (test)'; END IF; RETURN NEW; END $$",
                   "CREATE TRIGGER refuse_sealing BEFORE UPDATE ON channels FOR EACH ROW "
                   "EXECUTE FUNCTION refuse_sealing()"],
    "mariadb": ["CREATE TRIGGER refuse_sealing BEFORE UPDATE ON channels FOR EACH ROW BEGIN "
                "IF NEW.id = 4 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk full (test)'; END IF; END"],
}


async def test_a_failed_start_leaves_the_database_as_it_was(backend: Backend) -> None:
    """The last step of a start (sealing the second channel) fails: SQLite and PostgreSQL roll every migration back;
    MariaDB, which commits each ALTER, keeps One API's rows and plain keys, and the next start completes the rest."""
    await make(backend, "v0.6.1")
    await add_channel(backend, 4, 1, PROJECT_KEY)
    for statement in _TRIGGERS[backend.name]:
        await backend.sql(statement)
    before = await everything(backend)
    box = keybox(backend)
    with pytest.raises(sa.exc.DBAPIError, match="disk full"):
        await upgrade(backend.engine, box, backend.settings)
    after = await everything(backend)
    if backend.name == "mariadb":
        # One API's tables keep every row as it was: nothing sealed, no check value, no root added.
        for name, rows in before["rows"].items():
            assert project(after["rows"][name], rows) == rows, name
    else:
        assert after == before
    await backend.sql("DROP TRIGGER refuse_sealing" + (" ON channels" if backend.name == "postgresql" else ""))
    await upgrade(backend.engine, box, backend.settings)
    keys = {row["id"]: row["k"] for row in await backend.sql(f"SELECT id, {backend.quote('key')} AS k FROM channels")}
    assert (box.open(keys[3]), box.open(keys[4])) == (one_api.PLAIN_CHANNEL_KEY, PROJECT_KEY)
    assert "idx_channels_key" not in (await snapshot(backend.engine))["channels"]["indexes"]
    assert len(await head_version(backend.engine)) >= 1
