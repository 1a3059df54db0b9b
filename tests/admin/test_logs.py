"""Logs after real relay calls: filters, quota sums, one's own logs, search and deleting old entries."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.admin.support import PASSWORD, data, refused, rows
from tests.harness import ROOT_TOKEN, Gateway, ServerThread, settings_for
from tests.upstreams.openai_mock import OpenAIMock
from tollway.constants import LogType

OLD = (1000, 2000, 3000)  # created_at of three old consume logs planted in the database


@dataclass
class Traffic:
    """A gateway after relay calls by alice (two tokens), bob and root."""

    gateway: Gateway
    channel: int
    alice: httpx.Client
    bob: httpx.Client
    alice_id: int
    bob_id: int
    started: int
    finished: int


def chat(gateway: Gateway, key: str, model: str, *, stream: bool = False) -> None:
    client = gateway.openai(key)
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        for _ in client.chat.completions.create(model=model, messages=messages, stream=True):
            pass
    else:
        client.chat.completions.create(model=model, messages=messages)


def plant_old_logs(gateway: Gateway, user_id: int) -> None:
    """Consume logs from long ago, written straight to the log table (logs are never cached)."""
    with closing(sqlite3.connect(gateway.settings.sqlite_path)) as conn, conn:
        conn.executemany(
            "INSERT INTO logs (user_id, created_at, type, content, username, token_name, model_name, quota,"
            " prompt_tokens, completion_tokens, channel_id) VALUES (?, ?, 2, 'old', 'alice', 'old-key', 'old-model',"
            " 7, 1, 1, 0)", [(user_id, at) for at in OLD])


def make_traffic(gateway: Gateway, mock_url: str) -> Traffic:
    """Five relay calls: alice 3 (two tokens, one streamed), bob 1, root 1; plus a top-up and old logs."""
    channel = gateway.add_channel(mock_url)
    alice_id, alice = gateway.create_user("alice", quota=10_000_000, password=PASSWORD)
    bob_id, bob = gateway.create_user("bob", quota=10_000_000, password=PASSWORD)
    alice_key = gateway.create_token(alice, name="alice-key")
    alice_other = gateway.create_token(alice, name="alice-other")
    bob_key = gateway.create_token(bob, name="bob-key")
    started = int(time.time())
    chat(gateway, alice_key, "gpt-4o-mini")
    chat(gateway, alice_key, "gpt-3.5-turbo", stream=True)
    chat(gateway, alice_other, "gpt-4o-mini")
    chat(gateway, bob_key, "gpt-4o-mini")
    chat(gateway, "sk-" + ROOT_TOKEN, "gpt-3.5-turbo")
    data(gateway.admin.post("/api/topup", json={"user_id": bob_id, "quota": 123, "remark": "bonus"}))
    gateway.flush()
    plant_old_logs(gateway, alice_id)
    return Traffic(gateway, channel, alice, bob, alice_id, bob_id, started, int(time.time()))


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory,
            mock_server: tuple[OpenAIMock, ServerThread]) -> Iterator[Traffic]:
    """One gateway with traffic shared by the tests that only read logs (it takes a few seconds to make)."""
    mock_server[0].reset()  # module-scoped, so the per-test `mock` fixture has not cleared plans left by others
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("logs")))
    made = make_traffic(gateway, mock_server[1].url)
    yield made
    made.alice.close()
    made.bob.close()
    gateway.close()


@pytest.fixture
def own_traffic(gateway: Gateway, mock_url: str) -> Iterator[Traffic]:
    """The same traffic on the test's own gateway, for tests that delete logs."""
    made = make_traffic(gateway, mock_url)
    yield made
    made.alice.close()
    made.bob.close()


def logs(client: httpx.Client, path: str = "/api/log/", **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data(client.get(path, params={"size": 100, **params}))
    return found


def test_consume_logs_record_each_call(traffic: Traffic) -> None:
    """Each relay call writes one consume log with One API's fields, and the quotas add up to used quota."""
    gateway = traffic.gateway
    consume = logs(gateway.admin, type=LogType.CONSUME, start_timestamp=traffic.started)
    assert len(consume) == 5
    newest = consume[-1]  # alice's first call
    assert (newest["username"], newest["token_name"], newest["model_name"]) == ("alice", "alice-key", "gpt-4o-mini")
    assert newest["channel"] == traffic.channel and newest["user_id"] == traffic.alice_id
    assert newest["prompt_tokens"] == 11 and newest["completion_tokens"] == 5 and newest["quota"] > 0
    assert newest["request_id"] and newest["is_stream"] is False and newest["elapsed_time"] >= 0
    assert [log["is_stream"] for log in consume if log["model_name"] == "gpt-3.5-turbo"] == [False, True]
    assert [log["id"] for log in consume] == sorted((log["id"] for log in consume), reverse=True)
    used = data(gateway.admin.get(f"/api/user/{traffic.alice_id}"))["used_quota"]
    assert used == sum(log["quota"] for log in consume if log["username"] == "alice")
    # Without a model mapping the upstream model is the requested one; logs planted without it show "".
    assert {log["upstream_model"] for log in consume} == {"gpt-4o-mini", "gpt-3.5-turbo"}
    assert {log["upstream_model"] for log in logs(gateway.admin, model_name="old-model")} == {""}


def test_consume_log_keeps_the_requested_and_the_upstream_model(gateway: Gateway, mock: OpenAIMock,
                                                                mock_url: str) -> None:
    """A mapped call logs the model the client asked for and the one the channel's mapping sent upstream."""
    gateway.add_channel(mock_url, model_mapping={"gpt-4o-mini": "gpt-4o"})
    chat(gateway, "sk-" + ROOT_TOKEN, "gpt-4o-mini")
    gateway.flush()
    [log] = logs(gateway.admin, type=LogType.CONSUME)
    assert (log["model_name"], log["upstream_model"]) == ("gpt-4o-mini", "gpt-4o")
    assert log["inbound_api"] == ""  # the client spoke OpenAI's own API
    assert mock.requests[-1].json["model"] == "gpt-4o"


def test_admin_filters(traffic: Traffic) -> None:
    """GET /api/log/ filters by type, time range, username, token name, model and channel, and pages by 10."""
    admin = traffic.gateway.admin

    def count(**params: Any) -> int:
        return len(logs(admin, **params))

    assert count(type=LogType.CONSUME) == 8 and count(type=LogType.TOPUP) == 1
    assert count(type=LogType.MANAGE) == 2  # the quota given to alice and bob when they were made
    assert count(type=LogType.CONSUME, username="alice") == 6
    assert count(type=LogType.CONSUME, username="alice", start_timestamp=traffic.started) == 3
    assert count(token_name="alice-key") == 2 and count(token_name="alice-other") == 1
    assert count(model_name="gpt-3.5-turbo") == 2 and count(model_name="gpt-3.5-turbo", username="bob") == 0
    assert count(channel=traffic.channel) == 5 and count(channel=9999) == 0
    assert count(start_timestamp=1000, end_timestamp=2000) == 2  # both ends included
    assert count(start_timestamp=1001, end_timestamp=2999) == 1
    assert count(type=LogType.CONSUME, end_timestamp=traffic.started - 1) == 3
    assert count(start_timestamp=traffic.finished + 10) == 0
    assert count(type=0) == count()  # type 0 means every type, as in One API
    assert len(data(admin.get("/api/log/"))) == 10
    assert len(data(admin.get("/api/log/?p=1"))) == count() - 10
    for bad in ({"type": "consume"}, {"start_timestamp": "yesterday"}, {"channel": "x"},
                {"end_timestamp": "9" * 30}, {"p": "x"}):
        refused(admin.get("/api/log/", params=bad), 200)


def test_quota_stat_sums_consume_logs(traffic: Traffic) -> None:
    """/api/log/stat sums consume-log quota under the same filters; top-ups are not counted."""
    admin = traffic.gateway.admin

    def stat(**params: Any) -> int:
        result: dict[str, int] = data(admin.get("/api/log/stat", params=params))
        assert set(result) == {"quota"}
        return result["quota"]

    recent = logs(admin, type=LogType.CONSUME, start_timestamp=traffic.started)
    assert stat() == sum(log["quota"] for log in recent) + 7 * len(OLD)
    assert stat(username="bob") == sum(log["quota"] for log in recent if log["username"] == "bob")
    assert stat(username="alice", start_timestamp=traffic.started) == sum(
        log["quota"] for log in recent if log["username"] == "alice")
    assert stat(model_name="old-model", end_timestamp=2000) == 14
    assert stat(channel=9999) == 0 and stat(type=LogType.TOPUP) == stat()  # `type` is ignored, as in One API


def test_own_logs_only_and_without_ids(traffic: Traffic) -> None:
    """/api/log/self shows only the caller's logs, without ids, and ignores attempts to name another user."""
    mine = logs(traffic.alice, "/api/log/self")
    assert len(mine) == 7  # 3 calls, 3 old logs, the manage log of her quota
    assert all(log["user_id"] == traffic.alice_id and "id" not in log for log in mine)
    assert logs(traffic.alice, "/api/log/self", username="bob") == mine
    assert len(logs(traffic.alice, "/api/log/self", type=LogType.CONSUME, start_timestamp=traffic.started)) == 3
    assert len(logs(traffic.alice, "/api/log/self", token_name="alice-other")) == 1
    assert len(logs(traffic.alice, "/api/log/self", model_name="gpt-3.5-turbo")) == 1
    assert logs(traffic.alice, "/api/log/self", token_name="bob-key") == []
    bobs = logs(traffic.bob, "/api/log/self", type=LogType.TOPUP)
    assert [(log["quota"], log["username"]) for log in bobs] == [(123, "bob")] and "bonus" in bobs[0]["content"]
    refused(traffic.alice.get("/api/log/"), 200)
    refused(traffic.alice.get("/api/log/stat"), 200)
    refused(traffic.alice.get("/api/log/search", params={"keyword": "2"}), 200)


def test_own_stat(traffic: Traffic) -> None:
    """/api/log/self/stat sums the caller's own consume quota only, whatever username is passed."""
    admin = traffic.gateway.admin
    for client, name in ((traffic.alice, "alice"), (traffic.bob, "bob")):
        expected = sum(log["quota"] for log in logs(admin, type=LogType.CONSUME, username=name))
        assert data(client.get("/api/log/self/stat")) == {"quota": expected}
        assert data(client.get("/api/log/self/stat", params={"username": "root"})) == {"quota": expected}
    assert data(traffic.alice.get("/api/log/self/stat", params={"start_timestamp": traffic.started - 5,
                                                                "model_name": "old-model"})) == {"quota": 0}


def test_search(traffic: Traffic) -> None:
    """Admin search matches a log type or a content prefix; self search matches one's own logs of a type."""
    admin = traffic.gateway.admin
    assert {log["type"] for log in data(admin.get("/api/log/search", params={"keyword": "2"}))} == {LogType.CONSUME}
    topups = data(admin.get("/api/log/search", params={"keyword": "admin root topped"}))
    assert [log["username"] for log in topups] == ["bob"]
    assert [log["content"] for log in data(admin.get("/api/log/search", params={"keyword": "old"}))] == ["old"] * 3
    assert data(admin.get("/api/log/search", params={"keyword": "%"})) == []
    own = data(traffic.alice.get("/api/log/self/search", params={"keyword": "2"}))
    assert len(own) == 6 and all(log["user_id"] == traffic.alice_id and "id" not in log for log in own)
    assert data(traffic.alice.get("/api/log/self/search", params={"keyword": "1"})) == []
    assert len(data(traffic.bob.get("/api/log/self/search", params={"keyword": "1"}))) == 1


def test_delete_old_logs_answers_the_count(own_traffic: Traffic) -> None:
    """DELETE /api/log/?target_timestamp= removes logs created before it and answers how many."""
    traffic = own_traffic
    admin = traffic.gateway.admin
    total = len(logs(admin))
    assert data(admin.delete("/api/log/", params={"target_timestamp": 2001})) == 2
    assert data(admin.delete("/api/log/", params={"target_timestamp": 2001})) == 0
    assert len(logs(admin)) == total - 2
    for params in ({}, {"target_timestamp": ""}, {"target_timestamp": "0"}, {"target_timestamp": "soon"}):
        refused(admin.delete("/api/log/", params=params), 200, "target_timestamp")
    refused(traffic.alice.delete("/api/log/", params={"target_timestamp": traffic.finished + 10}), 200)
    assert len(logs(admin)) == total - 2
    assert data(admin.delete("/api/log/", params={"target_timestamp": traffic.finished + 10})) == total - 2
    assert rows(traffic.gateway, "SELECT COUNT(*) FROM logs") == [(0,)]


def test_consume_logging_can_be_switched_off(relay: Gateway) -> None:
    """With LogConsumeEnabled false, relay calls are billed but write no consume log."""
    data(relay.admin.put("/api/option/", json={"key": "LogConsumeEnabled", "value": "false"}))
    chat(relay, "sk-" + ROOT_TOKEN, "gpt-4o-mini")
    relay.flush()
    assert logs(relay.admin, type=LogType.CONSUME) == []
    assert data(relay.admin.get("/api/user/self"))["used_quota"] > 0
