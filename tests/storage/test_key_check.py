"""The sealing key must fit the database: the first start stores a check value, a start with another key stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import Gateway, settings_for
from tests.storage import one_api
from tests.storage.conftest import Backend
from tollway.crypto import KeyBox, load_instance_secret
from tollway.errors import WrongEncryptionKey
from tollway.settings import Settings
from tollway.storage.migrate import check_key, migrate, upgrade
from tollway.storage.schema import key_checks


def keybox_of(settings: Settings) -> KeyBox:
    """The key box the app builds from these settings (ENCRYPTION_KEY, else <data dir>/secret.key)."""
    return KeyBox(*load_instance_secret(settings.encryption_key, settings.data_dir))


async def channel_keys(backend: Backend) -> list[str]:
    return [row["k"] for row in await backend.sql(f"SELECT {backend.quote('key')} AS k FROM channels ORDER BY id")]


async def test_a_start_with_another_key_stops_and_changes_nothing(backend: Backend) -> None:
    """ENCRYPTION_KEY changed between starts: the start is refused with a message saying what to do."""
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn)
    first = backend.settings_with(ENCRYPTION_KEY="the-key-used-before")
    await upgrade(backend.engine, keybox_of(first), first)
    [check] = await backend.sql(f"SELECT name, value FROM {key_checks.name}")
    assert check["value"] == keybox_of(first).check_value
    sealed = await channel_keys(backend)
    await backend.sql(f"INSERT INTO channels (id, type, {backend.quote('key')}, status, name) "
                      "VALUES (9, 1, 'sk-added-in-plain', 1, 'plain')")
    other = backend.settings_with(ENCRYPTION_KEY="another-key")
    with pytest.raises(WrongEncryptionKey) as refused:
        await upgrade(backend.engine, keybox_of(other), other)
    assert "ENCRYPTION_KEY" in refused.value.message and "Nothing was changed" in refused.value.message
    assert await channel_keys(backend) == [*sealed, "sk-added-in-plain"]  # not sealed with the wrong key
    with pytest.raises(WrongEncryptionKey):
        await check_key(backend.engine, keybox_of(other))  # a slave with the wrong key stops too
    await check_key(backend.engine, keybox_of(first))
    await upgrade(backend.engine, keybox_of(first), first)
    assert KeyBox.is_sealed((await channel_keys(backend))[-1])


async def test_a_start_from_another_directory_does_not_make_a_new_key(backend: Backend, tmp_path: Path) -> None:
    """Without ENCRYPTION_KEY the key is <data dir>/secret.key; started elsewhere, Tollway refuses instead of
    making a new key that opens nothing, names the file it would have used, and leaves no file behind."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    first = backend.settings_with(ENCRYPTION_KEY="", TOLLWAY_DATA_DIR=str(home))
    await upgrade(backend.engine, keybox_of(first), first)
    assert (home / "secret.key").is_file()
    moved = backend.settings_with(ENCRYPTION_KEY="", TOLLWAY_DATA_DIR=str(elsewhere))
    with pytest.raises(WrongEncryptionKey) as refused:
        await upgrade(backend.engine, keybox_of(moved), moved)
    assert f"{(elsewhere / 'secret.key').resolve()}, made just now" in refused.value.message
    assert not (elsewhere / "secret.key").exists()
    await upgrade(backend.engine, keybox_of(first), first)  # the original directory still starts


async def test_a_database_without_a_check_value_is_judged_by_its_sealed_keys(backend: Backend) -> None:
    """An older Tollway's database has sealed keys and no check value: the right key records one, a wrong one stops."""
    await migrate(backend.engine)
    right = backend.settings_with(ENCRYPTION_KEY="older-tollway-key")
    sealed = keybox_of(right).seal("sk-sealed-by-an-older-tollway")
    await backend.sql(f"INSERT INTO channels (id, type, {backend.quote('key')}, status, name) "
                      "VALUES (1, 1, :key, 1, 'old')", key=sealed)
    wrong = backend.settings_with(ENCRYPTION_KEY="a-new-key")
    with pytest.raises(WrongEncryptionKey, match="none of the sealed upstream keys"):
        await upgrade(backend.engine, keybox_of(wrong), wrong)
    assert await backend.sql(f"SELECT value FROM {key_checks.name}") == []
    await upgrade(backend.engine, keybox_of(right), right)
    assert await backend.sql(f"SELECT value FROM {key_checks.name}") == [{"value": keybox_of(right).check_value}]


def test_the_gateway_does_not_start_with_the_wrong_key(tmp_path: Path) -> None:
    """Through the app: a restart with another key never serves (and /api/status never says all is well)."""
    Gateway(settings_for(tmp_path)).close()
    with pytest.raises(RuntimeError, match="did not start"):
        Gateway(settings_for(tmp_path, ENCRYPTION_KEY="not-the-test-key"))
    Gateway(settings_for(tmp_path)).close()
