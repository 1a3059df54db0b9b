"""Fixtures: the storage tests' databases (SQLite, PostgreSQL, MariaDB), for the change log and cluster jobs."""

from __future__ import annotations

from tests.storage.conftest import backend, backend_server, mariadb_server, postgres_server, store

__all__ = ["backend", "backend_server", "mariadb_server", "postgres_server", "store"]
