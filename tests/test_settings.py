"""Settings come from One API's environment variables, with its defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollway.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({}, dotenv=None)
    assert settings.port == 3000 and settings.sqlite_path == Path("data/tollway.db")
    assert settings.sync_frequency_s == 600 and settings.batch_update_interval_s == 5.0
    assert settings.relay_timeout_s == 0 and settings.node_type == "master" and not settings.is_slave


def test_values_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('PORT=4000\nexport SQL_DSN="root:pw@tcp(db:3306)/oneapi"\n# comment\nMEMORY_CACHE_ENABLED=true\n')
    settings = Settings.from_env({"NODE_TYPE": "slave", "SYNC_FREQUENCY": "60"}, dotenv=dotenv)
    assert settings.port == 4000 and settings.sql_dsn == "root:pw@tcp(db:3306)/oneapi"
    assert settings.is_slave and settings.sync_frequency_s == 60
    assert settings.ignored == ("MEMORY_CACHE_ENABLED",)


def test_bad_numbers_are_reported() -> None:
    with pytest.raises(ValueError, match="PORT"):
        Settings.from_env({"PORT": "eighty"}, dotenv=None)
