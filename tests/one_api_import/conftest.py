"""The storage tests' database servers (SQLite, PostgreSQL, MariaDB) hold the One API databases imported here."""

from __future__ import annotations

from tests.storage.conftest import backend, backend_server, mariadb_server, postgres_server

__all__ = ["backend", "backend_server", "mariadb_server", "postgres_server"]
