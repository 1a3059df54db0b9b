"""Database URLs (One API's DSN forms included) and async engines for SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tollway.constants import ENUMS
from tollway.settings import Settings

# What modules outside storage/ call an engine when they hold one for storage's functions, without SQLAlchemy.
Engine: TypeAlias = AsyncEngine

# `user:password@tcp(host:port)/dbname?params`: the go-sql-driver/mysql form One API documents.
_GO_MYSQL = re.compile(
    r"^(?:(?P<user>[^:@/]*)(?::(?P<password>.*))?@)?"
    r"(?:(?P<net>tcp|unix)\((?P<addr>[^)]*)\))?/(?P<db>[^?]*)(?:\?(?P<query>.*))?$"
)

# go-sql-driver options with no meaning for aiomysql; dropped so they do not reach connect().
_GO_ONLY_PARAMS = {"parseTime", "loc", "timeout", "readTimeout", "writeTimeout", "allowNativePasswords", "tls"}


def database_url(dsn: str) -> URL:
    """Turn a One API `SQL_DSN` (Go or URL form) or an SQLAlchemy URL into an async SQLAlchemy URL."""
    dsn = dsn.strip()
    if not dsn:
        raise ValueError("empty database DSN")
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else ""
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return _postgres_url(dsn)
    if scheme in {"mysql", "mariadb", "mysql+aiomysql", "mariadb+aiomysql"}:
        url = make_url(dsn)
        return url.set(drivername="mysql+aiomysql", query=_mysql_query(dict(url.query)))
    if scheme.startswith("sqlite"):
        return make_url(dsn).set(drivername="sqlite+aiosqlite")
    if scheme:
        url = make_url(dsn)
        if url.get_backend_name() not in {"postgresql", "mysql", "mariadb", "sqlite"}:
            # The scheme alone is echoed: the rest of the DSN may hold a password.
            raise ValueError(f"SQL_DSN scheme {scheme!r} is not PostgreSQL, MySQL/MariaDB or SQLite")
        # Another driver of a supported database, chosen explicitly by the operator.
        return url
    match = _GO_MYSQL.match(dsn)
    if not match:
        # The DSN itself is not echoed: it may hold a password.
        raise ValueError("cannot understand SQL_DSN; use user:pw@tcp(host:3306)/db or a database URL")
    options = dict(parse_qsl(match.group("query") or ""))
    if options.get("tls", "false").lower() not in ("false", ""):
        # Dropping it would connect without TLS; aiomysql takes certificates only through a URL.
        raise ValueError("SQL_DSN asks for tls; use mysql+aiomysql://user:pw@host/db?ssl_ca=/path/ca.pem instead")
    # Of go-sql-driver's options only charset means the same to aiomysql; any other (collation,
    # multiStatements, interpolateParams, system variables, ...) would make connect() raise TypeError.
    query = {k: v for k, v in options.items() if k == "charset"}
    host: str | None = "127.0.0.1"
    port: int | None = 3306
    addr = match.group("addr") or ""
    if match.group("net") == "unix":
        query["unix_socket"] = addr
        host, port = None, None
    elif addr:
        host, port = _host_port(addr)
    return URL.create(
        "mysql+aiomysql",
        username=match.group("user") or None,
        password=match.group("password") or None,
        host=host,
        port=port,
        database=match.group("db") or None,
        query=_mysql_query(query),
    )


def _host_port(addr: str) -> tuple[str, int]:
    """Split a go-sql-driver `tcp(...)` address; as in Go, an IPv6 host with a port comes in brackets."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif addr.count(":") == 1:
        host, _, port_text = addr.partition(":")
    else:
        host, port_text = addr, ""
    return host or "127.0.0.1", int(port_text) if port_text else 3306


def _mysql_query(query: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: v for k, v in query.items() if k not in _GO_ONLY_PARAMS}
    cleaned.setdefault("charset", "utf8mb4")
    return cleaned


def _postgres_url(dsn: str) -> URL:
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    # libpq's sslmode becomes asyncpg's ssl (same values); the other libpq-only options are dropped.
    sslmode = query.pop("sslmode", "")
    for name in ("TimeZone", "timezone", "connect_timeout", "application_name"):
        query.pop(name, None)
    if sslmode:
        query["ssl"] = sslmode
    rebuilt = parts._replace(scheme="postgresql+asyncpg", query=urlencode(query, quote_via=quote))
    return make_url(rebuilt.geturl())


def sqlite_url(path: Path) -> URL:
    """An aiosqlite URL for a database file."""
    return URL.create("sqlite+aiosqlite", database=str(path))


def create_engine(url: URL, settings: Settings) -> AsyncEngine:
    """An async engine with One API's pool settings, and WAL mode and a busy timeout on SQLite."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.debug_sql,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        )
        busy_ms = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cursor.close()

        return engine
    if url.get_backend_name() in ("mysql", "mariadb"):
        _bind_enums_as_numbers()
    most, idle = pool_limits(settings)
    return create_async_engine(
        url,
        echo=settings.debug_sql,
        pool_size=idle,
        max_overflow=most - idle,
        pool_recycle=settings.sql_max_lifetime_s,
        pool_pre_ping=True,
    )


def _bind_enums_as_numbers() -> None:
    """Make PyMySQL send the IntEnums of tollway.constants as numbers: it quotes an int subclass it does not know
    as a string, and statuses, roles and log types are bound as those enums."""
    from pymysql import converters  # type: ignore[import-untyped]

    for enum in ENUMS:
        converters.encoders.setdefault(enum, converters.escape_int)


def pool_limits(settings: Settings) -> tuple[int, int]:
    """(most, kept idle) connections of one worker to one database server.

    SQL_MAX_OPEN_CONNS and SQL_MAX_IDLE_CONNS count for the whole node, as in One API where a node was one process:
    its workers share them, each getting at least 2 (the keeper's flush and the change poller may overlap). The
    request path uses no connection in steady state, so a handful per node is plenty (README: pool sizes).
    """
    workers = max(1, settings.workers)
    most = max(2, -(-settings.sql_max_open_conns // workers))
    idle = max(1, min(most, -(-settings.sql_max_idle_conns // workers)))
    return most, idle


@contextlib.asynccontextmanager
async def begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: on SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), because a
    transaction that read first cannot start writing once another process has written meanwhile (it fails at once
    instead of waiting the busy timeout)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def main_url(settings: Settings) -> URL:
    """The main database: `SQL_DSN` when set, else the SQLite file at `SQLITE_PATH`."""
    return database_url(settings.sql_dsn) if settings.sql_dsn else sqlite_url(settings.sqlite_path)


def log_url(settings: Settings) -> URL | None:
    """The separate log database of `LOG_SQL_DSN`, or None to keep logs in the main database."""
    if not settings.log_sql_dsn:
        return None
    dsn = settings.log_sql_dsn
    go = _GO_MYSQL.match(dsn)
    # A bare path is an SQLite file; `tcp(host)/db` without credentials is still go-sql-driver's form.
    if "://" not in dsn and "@" not in dsn and not (go and go.group("net")):
        return sqlite_url(Path(dsn))
    return database_url(dsn)


# What a failed database call raises (a driver's error arrives wrapped in it), for callers outside storage/.
DatabaseError: TypeAlias = SQLAlchemyError
