"""`database_url` turns One API's SQL_DSN forms and SQLAlchemy URLs into async SQLAlchemy URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollway.settings import Settings
from tollway.storage.database import database_url, log_url, main_url


def test_go_mysql_dsn_from_one_api_readme() -> None:
    """The go-sql-driver form keeps host, port, credentials and charset and drops Go-only options."""
    url = database_url("root:pw@tcp(host:3306)/oneapi?charset=utf8mb4&parseTime=True&loc=Local")
    assert url.drivername == "mysql+aiomysql"
    assert (url.username, url.password, url.host, url.port, url.database) == ("root", "pw", "host", 3306, "oneapi")
    assert dict(url.query) == {"charset": "utf8mb4"}


def test_go_mysql_options_aiomysql_lacks_are_dropped() -> None:
    """go-sql-driver options such as collation or multiStatements never reach aiomysql.connect(), which refuses them."""
    url = database_url("u:p@tcp(h:3306)/db?collation=utf8mb4_general_ci&multiStatements=true&interpolateParams=true"
                       "&charset=utf8&timeout=10s&time_zone=%27UTC%27&tls=false")
    assert dict(url.query) == {"charset": "utf8"}


def test_go_mysql_dsn_defaults() -> None:
    """Without tcp(...) the driver's defaults apply: 127.0.0.1:3306, no password, utf8mb4."""
    url = database_url("user@/db")
    assert (url.username, url.password, url.host, url.port, url.database) == ("user", None, "127.0.0.1", 3306, "db")
    assert url.query["charset"] == "utf8mb4"
    assert database_url("u@tcp(dbhost)/db").port == 3306


def test_go_mysql_unix_socket() -> None:
    """`unix(/path)` becomes aiomysql's unix_socket with no host or port."""
    url = database_url("user:pw@unix(/path/sock)/db")
    assert url.query["unix_socket"] == "/path/sock"
    assert (url.host, url.port, url.database, url.password) == (None, None, "db", "pw")


def test_go_mysql_password_with_separators() -> None:
    """Like go-sql-driver, the last @ ends the credentials, so passwords may contain @, : and /."""
    url = database_url("u:p@ss:w/rd@tcp(h:3307)/db")
    assert (url.username, url.password, url.host, url.port) == ("u", "p@ss:w/rd", "h", 3307)


@pytest.mark.parametrize(("addr", "host", "port"), [
    ("[::1]:3307", "::1", 3307),
    ("::1", "::1", 3306),
    (":3308", "127.0.0.1", 3308),
])
def test_go_mysql_ipv6_and_empty_hosts(addr: str, host: str, port: int) -> None:
    """IPv6 hosts lose Go's brackets, and an empty host means localhost, as in go-sql-driver."""
    url = database_url(f"u@tcp({addr})/db")
    assert (url.host, url.port) == (host, port)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_postgres_urls(scheme: str) -> None:
    """One API's postgres:// form and SQLAlchemy's become asyncpg URLs; sslmode=disable stays in force."""
    url = database_url(f"{scheme}://user:pw@host:5432/db?sslmode=disable")
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == ("user", "pw", "host", 5432, "db")
    # Kept as asyncpg's ssl=disable: dropped, asyncpg would try TLS first.
    assert dict(url.query) == {"ssl": "disable"}


def test_postgres_libpq_options() -> None:
    """sslmode becomes asyncpg's ssl, libpq-only options are dropped and escaped passwords stay escaped once."""
    url = database_url("postgresql://u:p%40ss@h/db?sslmode=require&TimeZone=Asia/Shanghai&connect_timeout=5")
    assert dict(url.query) == {"ssl": "require"}
    assert url.password == "p@ss"


@pytest.mark.parametrize("dsn", ["mysql://u:p@h/db?parseTime=True", "mysql+aiomysql://u:p@h/db",
                                 "mariadb://u:p@h/db"])
def test_mysql_urls(dsn: str) -> None:
    """MySQL and MariaDB URLs use aiomysql with utf8mb4 and no Go-only options."""
    url = database_url(dsn)
    assert url.drivername == "mysql+aiomysql"
    assert dict(url.query) == {"charset": "utf8mb4"}
    assert (url.username, url.password, url.host, url.database) == ("u", "p", "h", "db")


@pytest.mark.parametrize(("dsn", "database"), [("sqlite+aiosqlite:///x.db", "x.db"),
                                               ("sqlite:////abs/x.db", "/abs/x.db")])
def test_sqlite_urls(dsn: str, database: str) -> None:
    """SQLite URLs use aiosqlite."""
    url = database_url(dsn)
    assert (url.drivername, url.database) == ("sqlite+aiosqlite", database)


def test_other_driver_of_a_supported_database_is_kept() -> None:
    """An explicitly chosen async driver of a supported database passes through."""
    assert database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("dsn", ["", "   ", "garbage", "host:3306", "u@tcp(h:abc)/db", "mysql://u:p@h:abc/db",
                                 "postgres://u@h:notaport/db", "://", "mongodb://u:secret@h/db", "redis://h:6379"])
def test_bad_dsn_raises_value_error(dsn: str) -> None:
    """Anything that is not a usable database DSN is refused with ValueError at startup."""
    with pytest.raises(ValueError):
        database_url(dsn)


def test_unknown_scheme_error_hides_password() -> None:
    """The error for an unsupported scheme does not repeat the DSN's password."""
    with pytest.raises(ValueError) as caught:
        database_url("mongodb://u:secret@h/db")
    assert "secret" not in str(caught.value)


def test_main_and_log_urls_from_settings(tmp_path: Path) -> None:
    """SQLITE_PATH is the default, SQL_DSN wins, and a bare LOG_SQL_DSN path is an SQLite file."""
    plain = Settings.from_env({"SQLITE_PATH": str(tmp_path / "one.db")}, dotenv=None)
    assert main_url(plain).database == str(tmp_path / "one.db")
    assert log_url(plain) is None
    split = Settings.from_env({"SQL_DSN": "root@tcp(db:3306)/oneapi", "LOG_SQL_DSN": str(tmp_path / "logs.db")},
                              dotenv=None)
    assert main_url(split).host == "db"
    logs = log_url(split)
    assert logs is not None and (logs.drivername, logs.database) == ("sqlite+aiosqlite", str(tmp_path / "logs.db"))
    no_user = log_url(Settings.from_env({"LOG_SQL_DSN": "tcp(logdb:3306)/logs"}, dotenv=None))
    assert no_user is not None and (no_user.drivername, no_user.host) == ("mysql+aiomysql", "logdb")
    pg_logs = log_url(Settings.from_env({"LOG_SQL_DSN": "postgres://u@h/logs"}, dotenv=None))
    assert pg_logs is not None and pg_logs.drivername == "postgresql+asyncpg"


def test_go_dsn_with_tls_is_refused_rather_than_downgraded() -> None:
    with pytest.raises(ValueError, match="tls") as raised:
        database_url("root:secret@tcp(db:3306)/oneapi?tls=true")
    assert "secret" not in str(raised.value)


def test_unreadable_go_dsn_does_not_echo_the_password() -> None:
    with pytest.raises(ValueError) as raised:
        database_url("root:secret@garbage")
    assert "secret" not in str(raised.value)


def test_pools_are_shared_by_a_nodes_workers() -> None:
    """SQL_MAX_OPEN_CONNS and SQL_MAX_IDLE_CONNS count for the node: its workers split them (2 at least each)."""
    from tollway.storage.database import pool_limits

    assert pool_limits(Settings()) == (10, 4)  # one worker gets the node's defaults
    assert pool_limits(Settings(workers=4)) == (3, 1)
    assert pool_limits(Settings(workers=8)) == (2, 1)
    assert pool_limits(Settings(workers=2, sql_max_open_conns=40, sql_max_idle_conns=10)) == (20, 5)
