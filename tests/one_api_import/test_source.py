"""The DSN forms an import understands: One API's SQL_DSN, AI Proxy's `mysql://` + Go DSN, libpq keywords, a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollway.errors import InvalidRequest
from tollway.storage.one_api_source import fingerprint, same_database, source_url


@pytest.mark.parametrize(("dsn", "rendered"), [
    ("root:pw@tcp(db:3306)/oneapi?charset=utf8mb4&parseTime=True&loc=Local",
     "mysql+aiomysql://root:***@db:3306/oneapi?charset=utf8mb4"),
    ("mysql://root:pw@tcp(db:3306)/oneapi", "mysql+aiomysql://root:***@db:3306/oneapi?charset=utf8mb4"),
    ("mysql://root:pw@db:3307/oneapi", "mysql+aiomysql://root:***@db:3307/oneapi?charset=utf8mb4"),
    ("postgres://u:pw@pg:5432/oneapi?sslmode=disable", "postgresql+asyncpg://u:***@pg:5432/oneapi?ssl=disable"),
    ("host=pg port=5433 user=u password='p w' dbname=oneapi sslmode=disable",
     "postgresql+asyncpg://u:***@pg:5433/oneapi?ssl=disable"),
])
def test_server_dsns(dsn: str, rendered: str) -> None:
    assert source_url(dsn).render_as_string(hide_password=True) == rendered


def test_sqlite_paths_open_read_only(tmp_path: Path) -> None:
    path = tmp_path / "one-api.db"
    path.write_bytes(b"")
    url = source_url(str(path))
    assert url.drivername == "sqlite+aiosqlite" and url.database == f"file:{path}?mode=ro"
    assert url.query["uri"] == "true"
    assert source_url(f"sqlite:///{path}") == url  # a SQLite URL is the same file, read-only too
    for missing in (str(tmp_path / "missing.db"), f"sqlite:///{tmp_path / 'missing.db'}"):
        with pytest.raises(InvalidRequest):
            source_url(missing)
    assert not (tmp_path / "missing.db").exists()  # never created


def test_fingerprints_ignore_passwords() -> None:
    a, b = source_url("root:one@tcp(db)/oneapi"), source_url("root:two@tcp(db)/oneapi")
    assert fingerprint(a) == fingerprint(b) and same_database(a, b)
    assert fingerprint(a) != fingerprint(source_url("root:one@tcp(db)/other"))
