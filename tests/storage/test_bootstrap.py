"""First start creates root (with One API's INITIAL_ROOT_* variables) once, and seals plain upstream keys."""

from __future__ import annotations

import pytest

from tests.storage import one_api
from tests.storage.conftest import Backend, make_keeper
from tollway.accounts.passwords import verify_password
from tollway.constants import Role
from tollway.crypto import KeyBox, instance_secret
from tollway.settings import Settings
from tollway.storage.bootstrap import bootstrap
from tollway.storage.migrate import migrate

ROOT_TOKEN = "Z" * 48


def keybox(settings: Settings) -> KeyBox:
    return KeyBox(instance_secret(settings.encryption_key, settings.data_dir))


async def channel_keys(backend: Backend) -> dict[int, str]:
    rows = await backend.sql(f"SELECT id, {backend.quote('key')} AS k FROM channels")
    return {row["id"]: row["k"] for row in rows}


async def test_first_start_creates_root_from_environment(backend: Backend) -> None:
    """INITIAL_ROOT_PASSWORD, INITIAL_ROOT_ACCESS_TOKEN and INITIAL_ROOT_TOKEN shape the root account."""
    settings = backend.settings_with(INITIAL_ROOT_PASSWORD="a-strong-password", INITIAL_ROOT_ACCESS_TOKEN="a" * 32,
                                     INITIAL_ROOT_TOKEN="sk-" + ROOT_TOKEN)
    await migrate(backend.engine)
    await bootstrap(backend.engine, keybox(settings), settings)
    [root] = await backend.sql("SELECT * FROM users")
    assert (root["username"], root["role"], root["status"], root["access_token"]) == ("root", Role.ROOT, 1, "a" * 32)
    assert root["password"].startswith("$argon2id$")
    assert verify_password(root["password"], "a-strong-password")
    assert not verify_password(root["password"], "123456")
    [token] = await backend.sql("SELECT * FROM tokens")
    # One API stores keys without the `sk-` that clients send.
    assert (token["key"], token["user_id"], bool(token["unlimited_quota"])) == (ROOT_TOKEN, root["id"], True)
    assert (token["status"], token["expired_time"]) == (1, -1)
    keeper = make_keeper(backend, backend.engine)
    await keeper.reload()
    assert keeper.cache.tokens[ROOT_TOKEN].user_id == root["id"]
    assert keeper.cache.access_tokens["a" * 32] == root["id"]


async def test_second_start_creates_nothing(backend: Backend) -> None:
    """Later starts leave the users and tokens alone, whatever the INITIAL_ROOT_* variables say now."""
    first = backend.settings_with(INITIAL_ROOT_PASSWORD="first-password", INITIAL_ROOT_TOKEN=ROOT_TOKEN)
    await migrate(backend.engine)
    await bootstrap(backend.engine, keybox(first), first)
    before = await backend.sql("SELECT id, password, access_token FROM users")
    second = backend.settings_with(INITIAL_ROOT_PASSWORD="other-password", INITIAL_ROOT_ACCESS_TOKEN="b" * 32,
                                   INITIAL_ROOT_TOKEN="Y" * 48)
    await bootstrap(backend.engine, keybox(second), second)
    assert await backend.sql("SELECT id, password, access_token FROM users") == before
    assert await backend.sql(f"SELECT {backend.quote('key')} FROM tokens") == [{"key": ROOT_TOKEN}]


async def test_random_root_password_is_printed_once(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Without INITIAL_ROOT_PASSWORD root gets a random password, shown once; no default 123456."""
    await migrate(backend.engine)
    await bootstrap(backend.engine, keybox(backend.settings), backend.settings)
    shown = capsys.readouterr().err
    password = shown.split("password: ", 1)[1].split()[0]
    [root] = await backend.sql("SELECT password, access_token FROM users")
    assert len(password) >= 16 and verify_password(root["password"], password)
    assert root["access_token"] is None
    assert await backend.sql("SELECT id FROM tokens") == []
    await bootstrap(backend.engine, keybox(backend.settings), backend.settings)
    assert "password" not in capsys.readouterr().err


async def test_plain_one_api_channel_keys_get_sealed(backend: Backend) -> None:
    """Keys imported from One API in plain text are sealed in place and still open to the original key."""
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn)
    multi_line = "key-one\nkey-two"
    await backend.sql(f"INSERT INTO channels (id, type, {backend.quote('key')}, status, name) "
                      "VALUES (4, 3, :key, 1, 'azure')", key=multi_line)
    await migrate(backend.engine)
    box = keybox(backend.settings)
    await bootstrap(backend.engine, box, backend.settings)
    rows = await channel_keys(backend)
    assert all(KeyBox.is_sealed(key) for key in rows.values())
    assert one_api.PLAIN_CHANNEL_KEY not in rows.values()
    assert (box.open(rows[3]), box.open(rows[4])) == (one_api.PLAIN_CHANNEL_KEY, multi_line)
    # One API's users remain, so no root is added; a second start does not seal twice.
    assert len(await backend.sql("SELECT id FROM users")) == len(one_api.ROWS["users"])
    await bootstrap(backend.engine, box, backend.settings)
    assert await channel_keys(backend) == rows
    keeper = make_keeper(backend, backend.engine)
    await keeper.reload()
    assert keeper.cache.channels[3].key == one_api.PLAIN_CHANNEL_KEY
