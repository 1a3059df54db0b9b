"""Fixtures: the storage tests' database servers, for clusters of real `tollway serve` processes."""

from __future__ import annotations

from tests.storage.conftest import mariadb_server, postgres_server

__all__ = ["mariadb_server", "postgres_server"]
