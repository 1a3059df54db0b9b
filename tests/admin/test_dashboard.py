"""Dashboards: one's own usage per day and model for the last 7 days (One API's shape), and everyone's for admins."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.admin.support import PASSWORD, data, refused
from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.openai_mock import OpenAIMock
from tollway.constants import LogType

# Many calls of a module share one gateway from 127.0.0.1: the per-IP limits would refuse them (tests/accounts
# covers the limits).
NO_LIMITS = {"GLOBAL_API_RATE_LIMIT": 0, "CRITICAL_RATE_LIMIT": 0}

DAY = 86400


def label(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d")


class Usage:
    """A gateway where alice and bob called the relay today and logs from earlier days were flushed."""

    def __init__(self, gateway: Gateway, alice: httpx.Client, alice_id: int, bob: httpx.Client, bob_id: int) -> None:
        self.gateway, self.alice, self.alice_id, self.bob, self.bob_id = gateway, alice, alice_id, bob, bob_id


def plant(gateway: Gateway, user_id: int, username: str, at: int, model: str, quota: int, *,
          kind: int = LogType.CONSUME) -> None:
    """A log written the way the relay writes them: queued on the keeper and flushed."""
    gateway.services.keeper.add_log({"user_id": user_id, "username": username, "created_at": at, "type": kind,
                                     "content": "planted", "token_name": "t", "model_name": model, "quota": quota,
                                     "prompt_tokens": 10, "completion_tokens": 4, "channel_id": 1})


@pytest.fixture(scope="module")
def usage(tmp_path_factory: pytest.TempPathFactory, mock_server: tuple[OpenAIMock, ServerThread]) -> Iterator[Usage]:
    mock_server[0].reset()  # module-scoped, so the per-test `mock` fixture has not cleared plans left by others
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("dashboard"), **NO_LIMITS))
    gateway.add_channel(mock_server[1].url)
    alice_id, alice = gateway.create_user("alice", quota=10_000_000, password=PASSWORD)
    bob_id, bob = gateway.create_user("bob", quota=10_000_000, password=PASSWORD)
    for client, calls in ((alice, ("gpt-4o-mini", "gpt-4o-mini", "gpt-3.5-turbo")), (bob, ("gpt-4o-mini",))):
        key = gateway.create_token(client)
        for model in calls:
            gateway.openai(key).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    now = int(time.time())
    plant(gateway, alice_id, "alice", now - 2 * DAY, "gpt-4o", 100)
    plant(gateway, alice_id, "alice", now - 2 * DAY, "gpt-4o", 50)
    plant(gateway, alice_id, "alice", now - 6 * DAY, "o3", 7)
    plant(gateway, alice_id, "alice", now - 8 * DAY, "o3", 9)  # outside the last 7 days
    plant(gateway, alice_id, "alice", now - DAY, "gpt-4o", 1000, kind=1)  # a top-up: not usage
    gateway.flush()
    yield Usage(gateway, alice, alice_id, bob, bob_id)
    alice.close()
    bob.close()
    gateway.close()


def test_own_dashboard_has_one_api_shape(usage: Usage) -> None:
    """Rows of {Day, ModelName, RequestCount, Quota, PromptTokens, CompletionTokens}, by day then model."""
    rows: list[dict[str, Any]] = data(usage.alice.get("/api/user/dashboard"))
    now = time.time()
    assert [(r["Day"], r["ModelName"], r["RequestCount"]) for r in rows] == [
        (label(now - 6 * DAY), "o3", 1), (label(now - 2 * DAY), "gpt-4o", 2),
        (label(now), "gpt-3.5-turbo", 1), (label(now), "gpt-4o-mini", 2)]
    assert set(rows[0]) == {"Day", "ModelName", "RequestCount", "Quota", "PromptTokens", "CompletionTokens"}
    assert (rows[1]["Quota"], rows[1]["PromptTokens"], rows[1]["CompletionTokens"]) == (150, 20, 8)
    consumed = data(usage.gateway.admin.get("/api/log/", params={"type": LogType.CONSUME, "username": "alice",
                                                                 "start_timestamp": int(now) - 3600}))
    today = [r for r in rows if r["Day"] == label(now)]
    assert sum(r["Quota"] for r in today) == sum(log["quota"] for log in consumed)
    assert sum(r["PromptTokens"] for r in today) == sum(log["prompt_tokens"] for log in consumed)
    assert [(r["ModelName"], r["RequestCount"]) for r in data(usage.bob.get("/api/user/dashboard"))] == [
        ("gpt-4o-mini", 1)]
    assert data(usage.gateway.admin.get("/api/user/dashboard")) == []  # root made no calls


def test_admin_dashboard_sums_everyone_with_filters(usage: Usage) -> None:
    """GET /api/log/dashboard: every user's usage; by username or user_id, model, and a day range."""
    admin, now = usage.gateway.admin, time.time()
    everyone = {(r["Day"], r["ModelName"]): r["RequestCount"] for r in data(admin.get("/api/log/dashboard"))}
    assert everyone[(label(now), "gpt-4o-mini")] == 3 and everyone[(label(now - 2 * DAY), "gpt-4o")] == 2
    assert (label(now - 8 * DAY), "o3") not in everyone
    by_name = data(admin.get("/api/log/dashboard", params={"username": "bob"}))
    assert by_name == data(admin.get("/api/log/dashboard", params={"user_id": usage.bob_id}))
    assert [(r["ModelName"], r["RequestCount"]) for r in by_name] == [("gpt-4o-mini", 1)]
    assert data(admin.get("/api/log/dashboard", params={"username": "nobody"})) == []
    old = data(admin.get("/api/log/dashboard", params={"start_timestamp": int(now - 9 * DAY),
                                                       "end_timestamp": int(now - 5 * DAY), "model_name": "o3"}))
    assert [(r["Day"], r["Quota"]) for r in old] == [(label(now - 8 * DAY), 9), (label(now - 6 * DAY), 7)]
    for bad in ({"start_timestamp": int(now), "end_timestamp": int(now - 3 * DAY)},
                {"start_timestamp": int(now - 400 * DAY)}, {"end_timestamp": "soon"}, {"user_id": "x"}):
        refused(admin.get("/api/log/dashboard", params=bad), 200)
    refused(usage.alice.get("/api/log/dashboard"), 200)
    refused(httpx.get(usage.gateway.url + "/api/user/dashboard"), 401)


def test_deleting_logs_updates_dashboards(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Deleting logs (DELETE /api/log/) takes their usage out of the dashboards in the same transaction."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("dashboard-delete")))
    try:
        now = int(time.time())
        for days in (1, 3, 3, 5):
            plant(gateway, 1, "root", now - days * DAY, "gpt-4o", 10)
        gateway.flush()
        assert sum(r["RequestCount"] for r in data(gateway.admin.get("/api/user/dashboard"))) == 4
        assert data(gateway.admin.delete("/api/log/", params={"target_timestamp": now - 2 * DAY})) == 3
        assert [r["RequestCount"] for r in data(gateway.admin.get("/api/user/dashboard"))] == [1]
    finally:
        gateway.close()
