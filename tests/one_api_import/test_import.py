"""Importing One API databases (made from One API's GORM models on SQLite, PostgreSQL and MariaDB) into a running
Tollway through AI Proxy's route, and with `tollway import-oneapi`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.support import dicts
from tests.harness import Gateway, settings_for
from tests.storage import one_api
from tests.storage.conftest import Backend
from tollway.cli import main as cli

ADMIN_KEY = "import-admin-key"
IMPORTED_TABLES = ("users", "tokens", "channels", "abilities", "options", "redemptions", "logs")


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Gateway]:
    """The Tollway the One API database is imported into (its own SQLite, away from the source's files)."""
    gateway = Gateway(settings_for(tmp_path / "tollway", ADMIN_KEY=ADMIN_KEY))
    yield gateway
    gateway.close()


async def one_api_database(backend: Backend, release: str) -> None:
    if backend.name == "postgresql" and not one_api.RELEASES[release].postgres:
        pytest.skip(f"One API {release} could not run on PostgreSQL")
    async with backend.engine.begin() as conn:
        await one_api.create_one_api_database(conn, release)


def dsns(backend: Backend) -> list[str]:
    """The DSN forms an operator has for that database: One API's SQL_DSN, AI Proxy's and FastGPT's prefixed one."""
    if backend.name == "sqlite":
        return [str(backend.settings.sqlite_path)]
    dsn = backend.env["SQL_DSN"]
    if backend.name == "mariadb":
        return [dsn, f"mysql://{dsn}"]  # go-sql-driver's form, and AI Proxy's (mysql:// in front of it)
    url = backend.engine.url
    keywords = (f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database} sslmode=disable"
                + (f" password={url.password}" if url.password else ""))
    return [dsn, keywords]


def import_(gateway: Gateway, dsn: str, **extra: Any) -> httpx.Response:
    return httpx.post(f"{gateway.url}/api/channels/import/oneapi", json={"dsn": dsn, **extra}, timeout=60,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"})


def everything(gateway: Gateway) -> dict[str, list[tuple[Any, ...]]]:
    gateway.flush()
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn:
        return {name: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {name}")), key=repr)
                for name in IMPORTED_TABLES}


@pytest.mark.parametrize("release", ["v0.5.0", "v0.6.1", "v0.6.11"])
async def test_import_brings_everything_once(backend: Backend, target: Gateway, release: str) -> None:
    await one_api_database(backend, release)
    for attempt, dsn in enumerate(dsns(backend)):
        answer = import_(target, dsn)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["success"] is True and body["data"] == []  # AI Proxy's `data`: what failed
        if attempt == 0:
            assert "imported 1 users, 1 tokens, 1 channels, 2 options, 1 redemptions" in body["message"]
            assert "skipped users: 1 already in Tollway" in body["message"]  # One API's root meets Tollway's
            first = everything(target)
        else:
            # The same database through another DSN form: nothing new, and every skip says why.
            assert body["message"].startswith("imported nothing")
            message = body["message"]
            assert "key already in Tollway" in message and "same type, name, base URL and key" in message
            assert everything(target) == first

    # bob signs in with his One API password (bcrypt), and his sk- key works on the relay.
    with httpx.Client(base_url=target.url) as browser:
        signed_in = browser.post("/api/user/login", json={"username": "bob", "password": "123456"}).json()
        assert signed_in["success"] is True, signed_in
    models = httpx.get(f"{target.url}/v1/models", headers={"Authorization": f"Bearer sk-{one_api.TOKEN_KEY}"})
    assert models.status_code == 200 and {m["id"] for m in models.json()["data"]} == {"gpt-4o-mini", "gpt-3.5-turbo"}
    [bob] = dicts(target, "SELECT id, quota, used_quota, \"group\" FROM users WHERE username = 'bob'")
    assert (bob["quota"], bob["used_quota"], bob["group"]) == (1000, 0, "vip")
    [token] = dicts(target, "SELECT user_id, remain_quota, used_quota, name FROM tokens WHERE name = 'bob key'")
    assert token == {"user_id": bob["id"], "remain_quota": 400, "used_quota": 25, "name": "bob key"}
    [channel] = dicts(target, "SELECT * FROM channels")
    entry = target.services.cache.channels[channel["id"]]
    assert (entry.type, entry.key, entry.models, entry.groups) == (
        1, one_api.PLAIN_CHANNEL_KEY, ["gpt-4o-mini", "gpt-3.5-turbo"], ["default", "vip"])
    assert one_api.PLAIN_CHANNEL_KEY not in channel["key"]  # sealed at rest
    assert channel["priority"] == (0 if release == "v0.5.0" else 5) and channel["used_quota"] == 95
    assert len(dicts(target, "SELECT * FROM abilities WHERE channel_id = ?", channel["id"])) == 4
    [code] = dicts(target, "SELECT \"key\", quota, status FROM redemptions")
    assert code == {"key": "d" * 32, "quota": 100, "status": 1}
    assert dicts(target, "SELECT id FROM logs WHERE content = 'old consume'") == []  # logs only on request

    # Logs on request, once: the second import with logs brings none again.
    first_logs = import_(target, dsns(backend)[0], logs=True).json()
    assert "1 logs" in first_logs["message"]
    again = import_(target, dsns(backend)[0], logs=True).json()
    assert "imported nothing" in again["message"] and "brought by an earlier import" in again["message"]
    [old] = dicts(target, "SELECT user_id, channel_id, quota, model_name FROM logs WHERE content = 'old consume'")
    logged_channel = 0 if release == "v0.5.0" else channel["id"]  # v0.5.0's logs had no channel_id
    assert old == {"user_id": bob["id"], "channel_id": logged_channel, "quota": 25, "model_name": "gpt-4o-mini"}


async def test_the_command_line_import(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`tollway import-oneapi DSN --logs` on a Tollway that is not running (its database is migrated first)."""
    if backend.name != "sqlite":
        pytest.skip("the command line is the same for every source; SQLite keeps this test short")
    await one_api_database(backend, one_api.NEWEST)
    home = tmp_path / "cli"
    for name, value in {"SQLITE_PATH": str(home / "tollway.db"), "ENCRYPTION_KEY": "cli-key",
                        "INITIAL_ROOT_PASSWORD": "cli-root-password", "SQL_DSN": "", "LOG_SQL_DSN": ""}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        await_in_thread(lambda: cli.main(["import-oneapi", str(backend.settings.sqlite_path), "--logs"]))
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "imported 1 users, 1 tokens, 1 channels, 2 options, 1 redemptions, 1 logs" in out
    with closing(sqlite3.connect(home / "tollway.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tokens WHERE \"key\" = ?", (one_api.TOKEN_KEY,)).fetchone() == (1,)
    with pytest.raises(SystemExit) as bad:
        await_in_thread(lambda: cli.main(["import-oneapi", str(tmp_path / "missing.db")]))
    assert bad.value.code == 1 and "no SQLite database file" in capsys.readouterr().err


def await_in_thread(work: Any) -> None:
    """Run a blocking call that starts its own event loop (the CLI's asyncio.run) off this test's loop."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(work).result(120)


@pytest.mark.parametrize(("dsn", "fragment"), [
    ("", "sql dsn is required"),
    ("/no/such/one-api.db", "no SQLite database file"),
    ("root@tcp(127.0.0.1:1)/oneapi", "could not read the One API database"),
    ("mysql://root:hunter2@tcp(127.0.0.1:1)/oneapi", "could not read the One API database"),
    ("postgres://u:hunter2@127.0.0.1:1/oneapi?sslmode=disable", "could not read the One API database"),
    ("oracle://x", "invalid dsn"),
])
def test_bad_dsns_are_refused_and_change_nothing(target: Gateway, dsn: str, fragment: str) -> None:
    before = everything(target)
    answer = import_(target, dsn)
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert fragment in answer.json()["message"] and "hunter2" not in answer.text
    assert everything(target) == before


def test_tollways_own_database_is_refused(target: Gateway) -> None:
    answer = import_(target, str(target.settings.sqlite_path))
    assert answer.status_code == 400 and "Tollway's own database" in answer.json()["message"]


def test_a_file_that_is_not_one_api(target: Gateway, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (id integer)")
    answer = import_(target, str(other))
    assert answer.status_code == 400 and "no One API tables" in answer.json()["message"]
