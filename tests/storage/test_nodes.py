"""Gateways on each database: logs in a separate LOG_SQL_DSN database, and two nodes sharing one database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.admin.support import PASSWORD
from tests.harness import ROOT_ACCESS_TOKEN, ROOT_PASSWORD, ROOT_TOKEN, Gateway
from tests.storage.conftest import Backend
from tests.upstreams.openai_mock import OpenAIMock
from tollway.settings import Settings

# Gateways start slowly (root's password is hashed), so these run on SQLite and PostgreSQL; the storage tests
# cover MariaDB's side of the same code.
SQLITE_AND_POSTGRES = pytest.mark.parametrize("backend_server", ["sqlite", "postgresql"], indirect=True)
ROOT_QUOTA = 500_000_000_000_000


def settings(backend: Backend) -> Settings:
    """A node on the backend's databases (SQL_DSN and LOG_SQL_DSN) with the harness's root credentials."""
    backend.used_logs_db = True
    return backend.settings_with(INITIAL_ROOT_PASSWORD=ROOT_PASSWORD, INITIAL_ROOT_ACCESS_TOKEN=ROOT_ACCESS_TOKEN,
                                 INITIAL_ROOT_TOKEN=ROOT_TOKEN, BATCH_UPDATE_INTERVAL="0.2")


@contextmanager
def nodes(backend: Backend, count: int) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    try:
        for _ in range(count):
            started.append(Gateway(settings(backend)))
        yield started
    finally:
        for gateway in started:
            gateway.close()


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["success"], body
    return body.get("data")


@SQLITE_AND_POSTGRES
async def test_logs_live_in_the_log_database(backend: Backend, mock: OpenAIMock, mock_url: str) -> None:
    """Consume, top-up and test logs, dashboards, deletion and retention all use LOG_SQL_DSN's database."""
    with nodes(backend, 1) as [gateway]:
        channel = gateway.add_channel(mock_url)
        user_id, client = gateway.create_user("alice", quota=10_000_000, password=PASSWORD)
        key = gateway.create_token(client)
        for _ in range(3):
            gateway.openai(key).chat.completions.create(model="gpt-4o-mini",
                                                        messages=[{"role": "user", "content": "hi"}])
        [code] = ok(gateway.admin.post("/api/redemption/", json={"name": "gift", "quota": 5, "count": 1}))
        assert ok(client.post("/api/user/topup", json={"key": code})) == 5
        assert gateway.admin.get(f"/api/channel/test/{channel}").json()["success"] is True
        gateway.flush()
        logs_engine = backend.logs_engine()
        kinds = await backend.sql("SELECT type, COUNT(*) AS n FROM logs GROUP BY type ORDER BY type",
                                  engine=logs_engine)
        assert [(int(r["type"]), int(r["n"])) for r in kinds] == [(1, 1), (2, 3), (3, 1), (5, 1)]
        assert await backend.sql("SELECT id FROM logs") == []  # nothing in the main database
        [day] = ok(client.get("/api/user/dashboard"))
        assert (day["ModelName"], day["RequestCount"]) == ("gpt-4o-mini", 3)
        assert len(ok(gateway.admin.get("/api/log/", params={"size": 100}))) == 6
        assert ok(gateway.admin.delete("/api/log/", params={"target_timestamp": int(time.time()) + 10})) == 6
        assert ok(client.get("/api/user/dashboard")) == []
        gateway.openai(key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        gateway.flush()
        retention = gateway.services.operations.retention
        assert gateway.server.run(retention.run_once(now=time.time() + 86400 * 400)) == 1
        assert await backend.sql("SELECT COUNT(*) AS n FROM log_rollups", engine=logs_engine) == [{"n": 0}]
        client.close()
        assert user_id > 1


@SQLITE_AND_POSTGRES
async def test_two_nodes_share_options_and_codes(backend: Backend) -> None:
    """Node B sees node A's option change in seconds (not SYNC_FREQUENCY's 600), and a code both nodes redeem at
    once (ten attempts each, for two users) credits exactly once."""
    with nodes(backend, 2) as [a, b]:
        assert ok(b.admin.get("/api/status"))["system_name"] == "Tollway"
        ok(a.admin.put("/api/option/", json={"key": "SystemName", "value": "Shared Gateway"}))
        ok(a.admin.put("/api/option/", json={"key": "RetryTimes", "value": 4}))
        assert ok(a.admin.get("/api/status"))["system_name"] == "Shared Gateway"  # at once on the node that set it
        deadline = time.monotonic() + 15
        while ok(b.admin.get("/api/status"))["system_name"] != "Shared Gateway":
            assert time.monotonic() < deadline, "node B never saw the change"
            time.sleep(0.1)
        assert b.services.cache.options.retry_times == 4
        assert b.settings.sync_frequency_s == 600

        user_id, client = a.create_user("alice", quota=100, password=PASSWORD)
        users = {user_id: client.cookies, 1: httpx.Cookies()}  # alice by cookie, root by access token
        client.close()
        [code] = ok(a.admin.post("/api/redemption/", json={"name": "race", "quota": 4321, "count": 1}))
        gate = threading.Barrier(20)
        won: list[int] = []

        def attempt(node: Gateway, user_id: int) -> None:
            headers = {"Authorization": ROOT_ACCESS_TOKEN} if user_id == 1 else {}
            with httpx.Client(base_url=node.url, cookies=users[user_id], headers=headers, timeout=30) as client:
                gate.wait()
                if client.post("/api/user/topup", json={"key": code}).json()["success"]:
                    won.append(user_id)

        ids = list(users)
        threads = [threading.Thread(target=attempt, args=((a, b)[i % 2], ids[(i // 2) % 2])) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        quotas = {int(r["id"]): int(r["quota"]) for r in await backend.sql("SELECT id, quota FROM users")}
        assert quotas[user_id] == 100 + (4321 if won[0] == user_id else 0)
        assert quotas[1] == ROOT_QUOTA + (4321 if won[0] == 1 else 0)
        a.flush()
        b.flush()
        topups = await backend.sql("SELECT user_id, quota FROM logs WHERE type = 1", engine=backend.logs_engine())
        assert topups == [{"user_id": won[0], "quota": 4321}]


@SQLITE_AND_POSTGRES
async def test_a_channel_test_run_is_seen_from_every_node(backend: Backend, mock: OpenAIMock, mock_url: str) -> None:
    """A run started on node A (or on one worker of several) shows its progress and result on node B too."""
    with nodes(backend, 2) as [a, b]:
        a.add_channel(mock_url)
        assert ok(b.admin.get("/api/channel/test/status"))["started_at"] == 0
        ok(a.admin.get("/api/channel/test"))
        a.server.run(a.services.operations.tester.wait())
        status = ok(b.admin.get("/api/channel/test/status"))
        assert (status["running"], status["total"], status["done"], status["passed"]) == (False, 1, 1, 1)
