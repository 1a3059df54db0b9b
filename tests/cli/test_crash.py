"""`tollway serve` killed under load: SIGKILL at several moments loses no answered call and bills none twice;
SIGTERM with hundreds of calls in flight ends within its grace period with everything written.

Runs on SQLite and, when it answers, PostgreSQL (under CI=true PostgreSQL must answer).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cli.test_serve import free_port, start
from tests.harness import ci
from tests.upstreams.openai_mock import OpenAIMock

ACCESS = "c" * 32
ROOT_TOKEN = "K" * 48
POSTGRES = os.environ.get("TOLLWAY_TEST_POSTGRES", "postgresql+asyncpg://root@127.0.0.1:5432/test")


@dataclass
class Load:
    """A closed loop of concurrent calls in a background thread, remembering when each answer was complete."""

    url: str
    key: str
    concurrency: int
    stream: bool = False
    answered: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    async def _run(self) -> None:
        body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        if self.stream:
            body["stream"] = True
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=30,
                                     headers={"Authorization": f"Bearer {self.key}"}) as client:

            async def worker() -> None:
                while not self._stop.is_set():
                    try:
                        answer = await client.post("/v1/chat/completions", json=body)
                        text_ = answer.text
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                        continue
                    done = time.monotonic()
                    if answer.status_code == 200 and (not self.stream or text_.rstrip().endswith("[DONE]")):
                        self.answered.append(done)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a node on a fresh database of each kind."""
    if request.param == "sqlite":
        yield {}
        return
    name = f"tollway_crash_{secrets.token_hex(4)}"
    admin = asyncio.run(_create(name))
    if admin is None:
        message = "PostgreSQL is not reachable on 127.0.0.1:5432"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    yield {"SQL_DSN": admin.replace("postgresql+asyncpg://", "postgres://").rsplit("/", 1)[0] + f"/{name}"}
    asyncio.run(_drop(admin, name))


async def _create(name: str) -> str | None:
    for url in (POSTGRES, POSTGRES.replace("//root@", "//postgres@")):
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            return url
        except Exception:
            continue
        finally:
            await engine.dispose()
    return None


async def _drop(admin: str, name: str) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def _figures(database: dict[str, str], tmp_path: Path) -> dict[str, int]:
    if "SQL_DSN" in database:
        url = database["SQL_DSN"].replace("postgres://", "postgresql+asyncpg://")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tollway.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            logs, logged = (await conn.execute(text(
                "SELECT COUNT(*), COALESCE(SUM(quota), 0) FROM logs WHERE type = 2"))).one()
            used, requests = (await conn.execute(text(
                "SELECT used_quota, request_count FROM users WHERE username = 'root'"))).one()
            token_used = (await conn.execute(text("SELECT COALESCE(SUM(used_quota), 0) FROM tokens"))).scalar_one()
            channel_used = (await conn.execute(text("SELECT COALESCE(SUM(used_quota), 0) FROM channels"))).scalar_one()
    finally:
        await engine.dispose()
    return {"logs": int(logs), "logged": int(logged), "used": int(used), "requests": int(requests),
            "token_used": int(token_used), "channel_used": int(channel_used)}


def node_env(database: dict[str, str], **extra: str) -> dict[str, str]:
    return {"INITIAL_ROOT_PASSWORD": "a-long-password", "INITIAL_ROOT_ACCESS_TOKEN": ACCESS,
            "INITIAL_ROOT_TOKEN": ROOT_TOKEN, "ENCRYPTION_KEY": "crash-test-key", **database, **extra}


def add_channel(port: int, mock_url: str) -> None:
    created = httpx.post(f"http://127.0.0.1:{port}/api/channel/", headers={"Authorization": ACCESS}, timeout=30,
                         json={"type": 1, "name": "mock", "key": "sk-mock", "base_url": mock_url,
                               "models": "gpt-4o-mini"}).json()
    assert created["success"], created


def test_sigkill_under_load_loses_no_answered_call_and_bills_none_twice(
        tmp_path: Path, database: dict[str, str], mock: OpenAIMock, mock_url: str) -> None:
    """The whole node (supervisor and its workers, one per CPU by default) is killed, as by the OOM killer."""
    kill_cycles(tmp_path, database, mock_url, lambda process: os.killpg(process.pid, signal.SIGKILL))


def test_a_killed_supervisor_s_workers_finish_and_a_restart_waits_for_the_port(
        tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    """Only the supervisor of two workers is killed: the workers notice, finish their calls and write them, and a
    supervisor started at once waits for them to let go of the port instead of failing."""
    kill_cycles(tmp_path, {"WORKERS": "2"}, mock_url, lambda process: process.send_signal(signal.SIGKILL),
                serving_after_kill=True)


def kill_cycles(tmp_path: Path, database: dict[str, str], mock_url: str, kill: Callable[[subprocess.Popen[str]], None],
                *, serving_after_kill: bool = False) -> None:
    """Kill a node under load at three moments, start it again, and check that every answered call is billed once."""
    port = free_port()
    # Flushes every 2 s: each kill finds some charges written and some only in the journal.
    env = node_env(database, BATCH_UPDATE_INTERVAL="2")
    answered = 0
    killed_in_flight = 0
    for cycle, moment in enumerate((0.2, 2.1, 4.0)):
        process = start(tmp_path, port, **env)
        if serving_after_kill:
            until_workers(process, port)
        if cycle == 0:
            add_channel(port, mock_url)
        load = Load(f"http://127.0.0.1:{port}", f"sk-{ROOT_TOKEN}", concurrency=32, stream=cycle == 1).start()
        deadline = time.monotonic() + 60
        while not load.answered and time.monotonic() < deadline:
            time.sleep(0.05)  # the moments count from the first answer, however busy the machine is
        time.sleep(moment)
        killed_at = time.monotonic()
        kill(process)
        process.wait(30)
        load.stop()
        answered += sum(1 for done in load.answered if done <= killed_at)
        # Workers that outlive their supervisor answer calls until they notice, each billed.
        killed_in_flight += len(load.answered) if serving_after_kill else 32
        assert load.answered, f"no call was answered in cycle {cycle}"
    # The next start replays what the journals hold; a second start finds nothing more to write.
    for _ in range(2):
        process = start(tmp_path, port, **env)
        if serving_after_kill:
            until_workers(process, port)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    figures = asyncio.run(_figures(database, tmp_path))
    # Every answered call is billed and logged; a call killed between its charge and its answer may be billed
    # unanswered (at most the calls in flight); quota and logs always agree.
    assert answered <= figures["logs"] <= answered + killed_in_flight, (answered, figures)
    assert figures["logged"] == figures["used"] == figures["token_used"] == figures["channel_used"] > 0, figures
    assert figures["requests"] == figures["logs"], figures
    assert not list((tmp_path / "data" / "journal").glob("*.jnl"))


def until_workers(process: subprocess.Popen[str], port: int) -> None:
    """Wait until this supervisor has bound the port and started workers: until then the workers of the killed one
    may be the ones answering."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if children.read_text().split():
            start_deadline = time.monotonic() + 30
            while time.monotonic() < start_deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code == 200:
                        return
                except httpx.TransportError:
                    time.sleep(0.1)
        time.sleep(0.1)
    raise AssertionError(f"the supervisor started no workers: {process.stderr.read() if process.stderr else ''}")


def test_sigterm_with_hundreds_of_calls_in_flight_ends_within_its_grace(
        tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    port = free_port()
    mock.plan("gpt-4o-mini", delay=0.2, pieces=["a", "b", "c", "d", "e", "f", "g", "h"])
    env = node_env({}, BATCH_UPDATE_INTERVAL="60", SHUTDOWN_TIMEOUT="3")
    process = start(tmp_path, port, **env)
    add_channel(port, mock_url)
    load = Load(f"http://127.0.0.1:{port}", f"sk-{ROOT_TOKEN}", concurrency=200, stream=True).start()
    deadline = time.monotonic() + 30
    while len(load.answered) < 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # until the streams are in full flow
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("tollway serve did not exit within 40 s of SIGTERM")
    took = time.monotonic() - asked
    load.stop()
    print(f"SIGTERM with 200 streams in flight: exited after {took:.1f} s")
    # SHUTDOWN_TIMEOUT for the calls in flight, then at most 10 s for the writes (README); far less in practice.
    assert took < 3 + 10 + 5, took
    answered = sum(1 for done in load.answered if done <= asked)
    figures = asyncio.run(_figures({}, tmp_path))
    assert figures["logs"] >= answered > 0, (answered, figures)
    assert figures["logged"] == figures["used"] == figures["token_used"] > 0, figures
    assert not list((tmp_path / "data" / "journal").glob("*.jnl"))
