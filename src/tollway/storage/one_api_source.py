"""The One API database an import reads: its DSN in any form One API, AI Proxy or FastGPT's docs use, read-only.

MySQL: go-sql-driver's `user:pass@tcp(host:3306)/oneapi?...`, with or without AI Proxy's `mysql://` prefix, or a URL.
PostgreSQL: `postgres://user:pass@host:5432/oneapi?sslmode=disable`, or libpq's `host=... dbname=...` keywords.
SQLite: the path of One API's `one-api.db` (opened read-only; a missing file is an error, never created).
`OneApiSource` holds one connection to it for an import: the One API tables it has and their rows.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData, Table, select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tollway.errors import InvalidRequest
from tollway.storage.database import database_url

TABLES = ("users", "tokens", "channels", "options", "redemptions", "logs")
_KEYWORD = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


def _postgres_keywords(dsn: str) -> URL:
    """libpq's `host=... port=... user=... password=... dbname=...` form as a URL."""
    found = {name: value.strip("'") for name, value in _KEYWORD.findall(dsn)}
    password = f":{quote(found['password'], safe='')}" if found.get("password") else ""
    user = quote(found.get("user", ""), safe="")
    credentials = f"{user}{password}@" if user or password else ""
    query = f"?sslmode={found['sslmode']}" if found.get("sslmode") else ""
    return database_url(f"postgres://{credentials}{found.get('host', '127.0.0.1')}:{found.get('port', '5432')}/"
                        f"{found.get('dbname', '')}{query}")


def source_url(dsn: str) -> URL:
    """The async URL of a One API database, or InvalidRequest saying which forms are understood."""
    dsn = dsn.strip()
    if not dsn:
        raise InvalidRequest("sql dsn is required", param="dsn")
    lower = dsn.lower()
    try:
        if lower.startswith(("mysql://", "mariadb://")):
            rest = dsn.split("://", 1)[1]
            # AI Proxy's form: its `mysql://` prefix in front of go-sql-driver's DSN.
            return database_url(rest if re.search(r"(^|@)(tcp|unix)\(", rest) else dsn)
        if lower.startswith("sqlite"):
            dsn = database_url(dsn).database or ""  # a SQLite URL: its file, opened read-only below
        elif "://" in dsn:
            return database_url(dsn)
        if "dbname=" in dsn or re.match(r"^\s*host\s*=", dsn):
            return _postgres_keywords(dsn)
        if "@" in dsn or re.search(r"(^|@)(tcp|unix)\(", dsn):
            return database_url(dsn)
    except ValueError as exc:
        raise InvalidRequest(f"invalid dsn: {exc}", param="dsn") from None
    path = Path(dsn).expanduser()
    if not path.is_file():
        raise InvalidRequest("invalid dsn: not a MySQL or PostgreSQL DSN, and no SQLite database file at that path",
                             param="dsn")
    return URL.create("sqlite+aiosqlite", database=f"file:{path.resolve()}?mode=ro", query={"uri": "true"})


def fingerprint(url: URL) -> str:
    """A stable name of a source database (without its password), for the marks of incremental log imports."""
    described = f"{url.get_backend_name()}|{url.host or ''}|{url.port or ''}|{url.database or ''}"
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def same_database(a: URL, b: URL) -> bool:
    """Whether two URLs name the same database (an import from Tollway's own database is refused)."""
    if a.get_backend_name() == "sqlite" and b.get_backend_name() == "sqlite":
        def path(url: URL) -> Path:
            name = (url.database or "").removeprefix("file:").split("?", 1)[0]
            return Path(name).resolve()
        return path(a) == path(b)
    return fingerprint(a) == fingerprint(b)


def open_source(url: URL) -> AsyncEngine:
    """An engine on the source that holds one connection and no pool beyond the import."""
    if url.get_backend_name() == "sqlite":
        return create_async_engine(url)
    return create_async_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)


def safe_message(exc: BaseException, url: URL) -> str:
    """A driver's error without the password, should it quote the DSN."""
    message = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if url.password:
        message = message.replace(str(url.password), "***")
    return message


async def _tables(conn: AsyncConnection) -> dict[str, Table]:
    """One API's tables present in the source, reflected with the columns that release has."""
    def reflect(sync: Connection) -> dict[str, Table]:
        metadata = MetaData()
        metadata.reflect(sync, only=lambda name, _: name in TABLES)
        return dict(metadata.tables)
    return await conn.run_sync(reflect)


async def _rows(conn: AsyncConnection, table: Table, *, after: int | None = None, limit: int | None = None
                ) -> list[dict[str, Any]]:
    """Rows of a source table (by id when it has one; `after` and `limit` page through logs)."""
    query = select(table)
    if "id" in table.c:
        query = query.order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row) for row in (await conn.execute(query)).mappings().all()]


class OneApiSource:
    """A One API database opened for an import: one connection, the One API tables it has, and their rows."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self._engine = open_source(url)
        self._conn: AsyncConnection | None = None
        self._tables: dict[str, Table] = {}

    async def open(self) -> None:
        """Connect and learn which One API tables there are, with the columns that release has."""
        self._conn = await self._engine.connect()
        self._tables = await _tables(self._conn)

    def has(self, table: str) -> bool:
        return table in self._tables

    async def rows(self, table: str, *, after: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows of a source table by id (none when the table is missing); `after` and `limit` page through logs."""
        found = self._tables.get(table)
        if found is None or self._conn is None:
            return []
        return await _rows(self._conn, found, after=after, limit=limit)

    async def close(self) -> None:
        try:
            if self._conn is not None:
                await self._conn.close()
        finally:
            await self._engine.dispose()
