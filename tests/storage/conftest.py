"""Fixtures: every storage test runs on SQLite, PostgreSQL and MariaDB, each on a freshly emptied real database.

Each test session creates its own uniquely named databases on the servers and drops them at the end, so
concurrent runs never collide. A server that cannot be reached skips its tests, or fails them under CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.harness import ci
from tollway.billing.ledger import Ledger
from tollway.constants import LogType
from tollway.crypto import KeyBox, instance_secret
from tollway.routing.current import CurrentRoutes
from tollway.settings import Settings
from tollway.storage import writes
from tollway.storage.cache import Cache, ChannelEntry, TokenEntry, UserEntry
from tollway.storage.database import create_engine, log_url, main_url
from tollway.storage.keeper import Keeper
from tollway.storage.migrate import migrate

BACKENDS = ("sqlite", "postgresql", "mariadb")
ENCRYPTION_KEY = "storage-tests-encryption-key"
# The servers' maintenance databases; overridable so the suite can run against other hosts.
POSTGRES_ADMIN = os.environ.get("TOLLWAY_TEST_POSTGRES", "postgresql+asyncpg://root@127.0.0.1:5432/test")
MARIADB_ADMIN = os.environ.get("TOLLWAY_TEST_MARIADB", "mysql+aiomysql://root@127.0.0.1:3306/test")


@dataclass
class Server:
    """A database server reachable from the tests, with this session's two databases on it."""

    kind: str
    admin: AsyncEngine
    main_db: str
    logs_db: str

    def url(self, database: str) -> URL:
        """The URL of one of this server's databases."""
        return self.admin.url.set(database=database)

    async def empty(self, database: str) -> None:
        """Drop everything in one of this session's databases."""
        if self.kind == "postgresql":
            # The admin engine sits on the maintenance database, so the schema reset needs its own connection.
            engine = create_async_engine(self.url(database), isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("DROP SCHEMA public CASCADE"))
                    await conn.execute(text("CREATE SCHEMA public"))
            finally:
                await engine.dispose()
            return
        async with self.admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            await conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))


def _unreachable(kind: str, exc: BaseException) -> NoReturn:
    """Skip the tests that need this server, or fail them under CI=true where every server must be there."""
    message = f"{kind} server not reachable ({type(exc).__name__}: {exc})"
    if ci():
        pytest.fail(message)
    pytest.skip(message)


async def _open_server(kind: str, admin_url: str) -> Server:
    """Connect to a server and create this session's databases, or skip (fail under CI) when it is down."""
    main_db = f"tollway_t_{secrets.token_hex(4)}"
    names = main_db, main_db + "_logs"
    candidates = [make_url(admin_url)]
    if kind == "postgresql" and candidates[0].username == "root":
        candidates.append(candidates[0].set(username="postgres"))
    error: BaseException | None = None
    for url in candidates:
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
        try:
            async with admin.connect() as conn:
                for name in names:
                    quoted = f'"{name}"' if kind == "postgresql" else f"`{name}`"
                    await conn.execute(text(f"CREATE DATABASE {quoted}"))
            return Server(kind, admin, main_db, names[1])
        except Exception as exc:
            error = exc
            await admin.dispose()
    assert error is not None
    _unreachable(kind, error)


async def _close_server(server: Server) -> None:
    """Drop this session's databases, closing any connection a test left behind."""
    async with server.admin.connect() as conn:
        for name in (server.main_db, server.logs_db):
            if server.kind == "postgresql":
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    await server.admin.dispose()


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[Server]:
    """PostgreSQL with this session's databases."""
    server = await _open_server("postgresql", POSTGRES_ADMIN)
    yield server
    await _close_server(server)


@pytest.fixture(scope="session")
async def mariadb_server() -> AsyncIterator[Server]:
    """MariaDB with this session's databases."""
    server = await _open_server("mariadb", MARIADB_ADMIN)
    yield server
    await _close_server(server)


@dataclass
class Backend:
    """One test's databases (main and logs) on one backend, with Settings that point at them."""

    name: str
    env: dict[str, str]
    settings: Settings
    tmp: Path
    server: Server | None = None
    _engines: list[AsyncEngine] = field(default_factory=list)
    _main: AsyncEngine | None = None
    used_logs_db: bool = False

    @property
    def engine(self) -> AsyncEngine:
        """The main database's engine, built the way the app builds it."""
        if self._main is None:
            self._main = self.new_engine(main_url(self.settings))
        return self._main

    def settings_with(self, **env: str) -> Settings:
        """This backend's settings with more environment variables set."""
        return Settings.from_env({**self.env, **env}, dotenv=None)

    def new_engine(self, url: URL) -> AsyncEngine:
        """An engine disposed when the test ends."""
        engine = create_engine(url, self.settings)
        self._engines.append(engine)
        return engine

    def logs_engine(self) -> AsyncEngine:
        """An engine on the separate log database of LOG_SQL_DSN."""
        url = log_url(self.settings)
        assert url is not None
        self.used_logs_db = True
        return self.new_engine(url)

    def unreachable_engine(self) -> AsyncEngine:
        """An engine whose every connection attempt fails, like a database server that went away."""
        if self.server is None:
            # A directory cannot be opened as a database file.
            directory = self.tmp / "not-a-database"
            directory.mkdir(exist_ok=True)
            return self.new_engine(URL.create("sqlite+aiosqlite", database=str(directory)))
        # Port 1 on localhost refuses connections at once.
        return self.new_engine(main_url(self.settings).set(port=1))

    def quote(self, name: str) -> str:
        """A column name quoted for this backend (One API's `key` and `group` are reserved words)."""
        return f'"{name}"' if self.name == "postgresql" else f"`{name}`"

    async def sql(self, statement: str, engine: AsyncEngine | None = None, **params: Any) -> list[dict[str, Any]]:
        """Run raw SQL in its own transaction, as another node or an operator would; returns the rows."""
        async with (engine or self.engine).begin() as conn:
            result = await conn.execute(text(statement), params)
            return [dict(row) for row in result.mappings().all()] if result.returns_rows else []

    async def rename_table(self, old: str, new: str) -> None:
        """Rename a table, the way an operator's mistake or a half-applied change makes it vanish for a while."""
        if self.name == "mariadb":
            await self.sql(f"RENAME TABLE {old} TO {new}")
        else:
            await self.sql(f"ALTER TABLE {old} RENAME TO {new}")

    async def close(self) -> None:
        """Dispose every engine the test made, so the next test can empty the databases."""
        for engine in self._engines:
            await engine.dispose()


def backend_env(name: str, tmp: Path, server: Server | None) -> dict[str, str]:
    """The environment of a node on this backend, in the DSN forms One API users already have."""
    env = {"TOLLWAY_DATA_DIR": str(tmp), "ENCRYPTION_KEY": ENCRYPTION_KEY, "SQLITE_PATH": str(tmp / "tollway.db")}
    if server is None:
        env["LOG_SQL_DSN"] = str(tmp / "logs.db")
    elif name == "postgresql":
        url = server.admin.url
        password = f":{quote(url.password, safe='')}" if url.password else ""
        base = f"postgres://{url.username}{password}@{url.host}:{url.port or 5432}/"
        env["SQL_DSN"] = f"{base}{server.main_db}?sslmode=disable"
        env["LOG_SQL_DSN"] = f"{base}{server.logs_db}?sslmode=disable"
    else:
        url = server.admin.url
        password = f":{url.password}" if url.password else ""
        base = f"{url.username}{password}@tcp({url.host}:{url.port or 3306})/"
        # The options One API's README uses, plus one more go-sql-driver option seen in real deployments.
        options = "charset=utf8mb4&parseTime=True&loc=Local&collation=utf8mb4_unicode_ci"
        env["SQL_DSN"] = f"{base}{server.main_db}?{options}"
        env["LOG_SQL_DSN"] = f"{base}{server.logs_db}?{options}"
    return env


@pytest.fixture(params=BACKENDS)
def backend_server(request: pytest.FixtureRequest) -> tuple[str, Server | None]:
    """Each backend in turn, with its server (None for SQLite); a plain fixture so it may pick an async one."""
    name: str = request.param
    if name == "sqlite":
        return name, None
    server: Server = request.getfixturevalue("postgres_server" if name == "postgresql" else "mariadb_server")
    return name, server


@pytest.fixture
async def backend(backend_server: tuple[str, Server | None], tmp_path: Path) -> AsyncIterator[Backend]:
    """Empty main and log databases on each backend in turn."""
    name, server = backend_server
    if server is not None:
        await server.empty(server.main_db)
    env = backend_env(name, tmp_path, server)
    handle = Backend(name, env, Settings.from_env(env, dotenv=None), tmp_path, server)
    yield handle
    await handle.close()
    if server is not None and handle.used_logs_db:
        # Few tests use the log database, so it is emptied after them rather than before every test.
        await server.empty(server.logs_db)


@dataclass
class Store:
    """A migrated database with the cache, keeper, ledger and routing table the app would build on it."""

    backend: Backend
    cache: Cache
    keeper: Keeper
    ledger: Ledger
    routes: CurrentRoutes

    async def seed(self, *, quota: int = 1000, remain: int = 1000, unlimited: bool = False, name: str = "alice",
                   models: str = "gpt-4o-mini") -> tuple[UserEntry, TokenEntry, ChannelEntry]:
        """A user with one token and one channel, written through storage.writes like the admin API does."""
        user = await writes.insert_user(self.keeper, {"username": name, "password": "x", "quota": quota,
                                                      "access_token": secrets.token_hex(16)})
        token = await writes.insert_token(self.keeper, {
            "user_id": user["id"], "key": secrets.token_hex(24), "name": f"{name} token", "remain_quota": remain,
            "unlimited_quota": unlimited, "expired_time": -1})
        [channel] = await writes.insert_channels(self.keeper, [{
            "type": 1, "key": self.cache.keybox.seal("sk-upstream"), "name": f"{name} channel", "models": models,
            "group": "default", "status": 1}])
        return (self.cache.users[user["id"]], self.cache.tokens_by_id[token["id"]],
                self.cache.channels[channel["id"]])

    async def charge(self, user: UserEntry, token: TokenEntry, channel: ChannelEntry, hold: int, cost: int) -> int:
        """Hold then settle one request the way the relay does, queueing its consume log."""
        held = await self.ledger.hold(token, user, hold)
        await self.ledger.cover(held, cost)
        return self.ledger.settle(held, cost, channel, log_row(user, token, channel))

    async def figures(self, user: UserEntry, token: TokenEntry, channel: ChannelEntry) -> dict[str, int]:
        """What the database holds for one user, token and channel, and the sum and count of the user's logs."""
        sql = self.backend.sql
        [u] = await sql("SELECT quota, used_quota, request_count FROM users WHERE id = :id", id=user.id)
        [t] = await sql("SELECT remain_quota, used_quota FROM tokens WHERE id = :id", id=token.id)
        [c] = await sql("SELECT used_quota FROM channels WHERE id = :id", id=channel.id)
        [lg] = await sql("SELECT COUNT(*) AS n, COALESCE(SUM(quota), 0) AS total FROM logs WHERE user_id = :id",
                         id=user.id)
        return {"quota": int(u["quota"]), "used": int(u["used_quota"]), "requests": int(u["request_count"]),
                "remain": int(t["remain_quota"]), "token_used": int(t["used_quota"]),
                "channel_used": int(c["used_quota"]), "logs": int(lg["n"]), "logged": int(lg["total"])}

    def new_keeper(self) -> Keeper:
        """A second process's keeper on the same database (a restart, or another node)."""
        return make_keeper(self.backend, self.backend.engine)


def log_row(user: UserEntry, token: TokenEntry, channel: ChannelEntry) -> dict[str, Any]:
    """A consume log row shaped like the relay's (billing/call_log.py `call_row`)."""
    return {"user_id": user.id, "created_at": 1_700_000_000, "type": LogType.CONSUME, "content": "test",
            "username": user.username, "token_name": token.name, "model_name": "gpt-4o-mini", "quota": 0,
            "prompt_tokens": 3, "completion_tokens": 5, "channel_id": channel.id, "request_id": secrets.token_hex(8),
            "elapsed_time": 12, "is_stream": False, "system_prompt_reset": False, "first_byte_time": 4,
            "upstream_model": "gpt-4o-mini"}


def make_keeper(backend: Backend, engine: AsyncEngine, log_engine: AsyncEngine | None = None, *,
                flush_interval: float = 3600, sync_interval: float = 3600) -> Keeper:
    """A keeper as the app builds it; its loop, if started, idles by default so that tests decide when to flush."""
    settings = backend.settings
    cache = Cache(KeyBox(instance_secret(settings.encryption_key, settings.data_dir)))
    return Keeper(engine, log_engine or engine, cache, flush_interval=flush_interval, sync_interval=sync_interval,
                  spill_dir=settings.data_dir)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A migrated database with a loaded keeper and a ledger over its cache."""
    await migrate(backend.engine)
    keeper = make_keeper(backend, backend.engine)
    await keeper.reload()
    yield Store(backend, keeper.cache, keeper, Ledger(keeper.cache, keeper), CurrentRoutes(keeper.cache))

