"""Channel tests through the real adaptor: one channel, background runs with One API's rules, stored results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.support import data, dicts, refused, row, rows
from tests.harness import Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock
from tollway.constants import LogType

# Many calls of a module share one gateway from 127.0.0.1: the per-IP limits would refuse them (tests/accounts
# covers the limits).
NO_LIMITS = {"GLOBAL_API_RATE_LIMIT": 0, "CRITICAL_RATE_LIMIT": 0}

BAD_KEY = {"error": {"message": "Incorrect API key provided: sk-bad", "type": "invalid_request_error",
                     "param": None, "code": "invalid_api_key"}}


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the module; each test starts with no channels and One API's default channel options."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("channel-tests"), **NO_LIMITS))
    yield gateway
    gateway.close()


@pytest.fixture
def gateway(shared_gateway: Gateway) -> Gateway:
    gateway = shared_gateway
    gateway.server.run(gateway.services.operations.tester.wait())
    for channel in data(gateway.admin.get("/api/channel/", params={"size": 100})):
        data(gateway.admin.delete(f"/api/channel/{channel['id']}"))
    gateway.flush()
    # Logs go too: SQLite gives a new channel the id of a deleted one, so old logs would be attributed to it.
    data(gateway.admin.delete("/api/log/", params={"target_timestamp": int(time.time()) + 3600}))
    for key, value in (("AutomaticDisableChannelEnabled", "false"), ("AutomaticEnableChannelEnabled", "false"),
                       ("ChannelDisableThreshold", "5")):
        data(gateway.admin.put("/api/option/", json={"key": key, "value": value}))
    return gateway


def test_logs(gateway: Gateway, channel_id: int) -> list[dict[str, Any]]:
    """The channel's test logs, newest first."""
    gateway.flush()
    logs: list[dict[str, Any]] = data(gateway.admin.get(
        "/api/log/", params={"type": LogType.TEST, "channel": channel_id, "size": 100}))
    return logs


test_logs.__test__ = False


def add(gateway: Gateway, base_url: str, models: str, **fields: Any) -> int:
    return gateway.add_channel(base_url, models=models, name=fields.pop("name", models), **fields)


def test_one(gateway: Gateway, channel_id: int, model: str | None = None) -> dict[str, Any]:
    """GET /api/channel/test/:id, checking One API's answer shape (top-level fields, no `data`)."""
    params = {"model": model} if model is not None else {}
    response = gateway.admin.get(f"/api/channel/test/{channel_id}", params=params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "message", "time", "modelName"}, body
    return body


test_one.__test__ = False


def wait_for_run(gateway: Gateway) -> dict[str, Any]:
    """Poll the run's progress until it has finished."""
    deadline = time.monotonic() + 20
    while True:
        status: dict[str, Any] = data(gateway.admin.get("/api/channel/test/status"))
        if not status["running"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_one_channel_passes_through_the_adaptor_without_billing(gateway: Gateway, mock: OpenAIMock,
                                                                mock_url: str) -> None:
    """A passing test answers the reply and time, stores latency, a result row and a test log, and bills nothing."""
    channel = add(gateway, mock_url, "gpt-4o-mini,gpt-3.5-turbo", key="sk-probe",
                  model_mapping={"gpt-3.5-turbo": "gpt-35-turbo"})
    quota_before = data(gateway.admin.get("/api/user/self"))["quota"]
    body = test_one(gateway, channel)
    assert body["success"] is True and body["message"] == "Hello from the mock." and body["time"] > 0
    assert body["modelName"] == "gpt-3.5-turbo"  # One API's default test model, served by this channel
    [sent] = mock.requests
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer sk-probe"
    assert sent.json["model"] == "gpt-35-turbo"  # the channel's model mapping applies
    assert sent.json["messages"] == [{"role": "user", "content": gateway.settings.test_prompt}]
    stored = row(gateway, "channels", channel)
    assert stored["test_time"] >= int(time.time()) - 5 and stored["response_time"] == pytest.approx(
        body["time"] * 1000, abs=2)
    [result] = data(gateway.admin.get(f"/api/channel/{channel}/tests"))
    assert result["channel_id"] == channel and result["model"] == "gpt-3.5-turbo"
    assert result["actual_model"] == "gpt-35-turbo" and result["success"] is True and result["code"] == 200
    assert result["response"] == "Hello from the mock." and result["took"] > 0
    [log] = test_logs(gateway, channel)
    assert log["channel"] == channel and log["model_name"] == "gpt-3.5-turbo" and "passed" in log["content"]
    assert data(gateway.admin.get("/api/log/", params={"type": LogType.CONSUME, "channel": channel})) == []
    assert data(gateway.admin.get("/api/user/self"))["quota"] == quota_before


def test_model_choice_follows_one_api(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """`?model=` is tested when the channel serves it; otherwise the channel's first model is."""
    channel = add(gateway, mock_url, "gpt-4o-mini,o3-mini")
    assert test_one(gateway, channel, "o3-mini")["modelName"] == "o3-mini"
    assert test_one(gateway, channel, "claude-3")["modelName"] == "gpt-4o-mini"
    assert test_one(gateway, channel)["modelName"] == "gpt-4o-mini"
    assert [r.json["model"] for r in mock.requests] == ["o3-mini", "gpt-4o-mini", "gpt-4o-mini"]
    results = data(gateway.admin.get("/api/channel/tests", params={"channel_id": channel}))
    assert [r["model"] for r in results] == ["gpt-4o-mini", "o3-mini"]  # one row per model, the latest result


def test_every_model_of_a_channel(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """`all_models=true` tests each model of the channel and keeps one result row per model."""
    mock.plan("bad-model", status=401, error=BAD_KEY)
    channel = add(gateway, mock_url, "gpt-4o-mini,o3-mini,bad-model")
    response = gateway.admin.get(f"/api/channel/test/{channel}", params={"all_models": "true"})
    body = response.json()
    assert body["success"] is False and body["message"] == "2 of 3 models passed"
    assert [(r["model"], r["success"]) for r in body["data"]] == [("gpt-4o-mini", True), ("o3-mini", True),
                                                                  ("bad-model", False)]
    stored = data(gateway.admin.get(f"/api/channel/{channel}/tests"))
    assert {(r["model"], r["success"]) for r in stored} == {("gpt-4o-mini", True), ("o3-mini", True),
                                                            ("bad-model", False)}
    assert len(test_logs(gateway, channel)) == 3


def test_failing_channels(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """A refused key or an unreachable upstream fails with the reason, time 0, response_time 0, a failed row."""
    mock.plan("bad-model", status=401, error=BAD_KEY)
    bad = add(gateway, mock_url, "bad-model")
    body = test_one(gateway, bad)
    assert body["success"] is False and "Incorrect API key" in body["message"] and body["time"] == 0
    assert row(gateway, "channels", bad)["response_time"] == 0 and row(gateway, "channels", bad)["test_time"] > 0
    [result] = data(gateway.admin.get(f"/api/channel/{bad}/tests"))
    assert (result["success"], result["code"]) == (False, 401) and "Incorrect API key" in result["response"]
    gone = add(gateway, "http://127.0.0.1:1", "gpt-4o-mini")
    body = test_one(gateway, gone)
    assert body["success"] is False and "cannot reach" in body["message"]
    assert data(gateway.admin.get(f"/api/channel/{gone}/tests"))[0]["code"] == 0
    mock.plan("tool-model", tool_call=True)  # an answer without text fails, as in One API
    body = test_one(gateway, add(gateway, mock_url, "tool-model"))
    assert body["success"] is False and "not text" in body["message"]
    logs = test_logs(gateway, bad) + test_logs(gateway, gone)
    assert len(logs) == 2 and all("failed" in log["content"] for log in logs)
    refused(gateway.admin.get("/api/channel/test/999999"), 200, "not found")
    assert row(gateway, "channels", bad)["status"] == 1  # a single test never switches a channel off (One API)


def test_run_applies_one_api_rules(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """A run tests every channel once; with auto-disable on, a refused key and a slow answer switch channels off."""
    mock.plan("bad-model", status=401, error=BAD_KEY)
    mock.plan("slow-model", first_delay=0.4)
    good = add(gateway, mock_url, "good-model")
    bad = add(gateway, mock_url, "bad-model")
    slow = add(gateway, mock_url, "slow-model")
    for key, value in (("AutomaticDisableChannelEnabled", "true"), ("ChannelDisableThreshold", "0.2")):
        data(gateway.admin.put("/api/option/", json={"key": key, "value": value}))
    started = data(gateway.admin.get("/api/channel/test"))
    assert started["running"] is True and started["scope"] == "all" and started["total"] == 3
    # One run at a time: a second start is refused while the slow channel holds this one.
    refused(gateway.admin.get("/api/channel/test", params={"scope": "disabled"}), 200, "already in progress")
    status = wait_for_run(gateway)
    assert (status["done"], status["passed"], status["failed"]) == (3, 2, 1)
    assert sorted(status["disabled"]) == sorted([bad, slow]) and status["enabled"] == []
    assert status["finished_at"] >= status["started_at"] > 0
    assert [row(gateway, "channels", c)["status"] for c in (good, bad, slow)] == [1, 3, 3]
    # Why and when each was switched off is kept and shown.
    assert data(gateway.admin.get(f"/api/channel/{bad}"))["status_reason"] == (
        "channel test: the upstream refused the channel's key: Incorrect API key provided: sk-bad")
    assert "over the threshold of 0.20 s" in data(gateway.admin.get(f"/api/channel/{slow}"))["status_reason"]
    assert row(gateway, "channels", slow)["status_time"] >= status["started_at"]
    assert rows(gateway, "SELECT DISTINCT enabled FROM abilities WHERE channel_id = ?", bad) == [(0,)]
    assert gateway.openai().chat.completions.create(
        model="good-model", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content
    contents = [log["content"] for c in (good, bad, slow) for log in test_logs(gateway, c)]
    assert len(contents) == 3 and sum("disabled automatically" in c for c in contents) == 2
    refused(gateway.admin.get("/api/channel/test", params={"scope": "some"}), 200, "scope")


def test_rules_stay_off_unless_switched_on(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    """With the options at their defaults a run records results but switches nothing off."""
    mock.plan("bad-model", status=401, error=BAD_KEY)
    bad = add(gateway, mock_url, "bad-model")
    data(gateway.admin.get("/api/channel/test"))
    status = wait_for_run(gateway)
    assert (status["failed"], status["disabled"]) == (1, [])
    assert row(gateway, "channels", bad)["status"] == 1


def test_disabled_run_enables_only_automatically_disabled_channels(gateway: Gateway, mock: OpenAIMock,
                                                                  mock_url: str) -> None:
    """scope=disabled tests status 2 and 3 channels; a passing auto-disabled one comes back, a manual one does not."""
    enabled = add(gateway, mock_url, "model-a")
    auto = add(gateway, mock_url, "model-b", status=3)
    manual = add(gateway, mock_url, "model-c", status=2)
    data(gateway.admin.put("/api/option/", json={"key": "AutomaticEnableChannelEnabled", "value": "true"}))
    started = data(gateway.admin.get("/api/channel/test", params={"scope": "disabled"}))
    assert started["total"] == 2
    status = wait_for_run(gateway)
    assert status["enabled"] == [auto] and status["passed"] == 2
    assert [row(gateway, "channels", c)["status"] for c in (enabled, auto, manual)] == [1, 1, 2]
    assert data(gateway.admin.get(f"/api/channel/{auto}"))["status_reason"].startswith("passed its test in ")
    assert row(gateway, "channels", manual)["status_reason"] is None
    assert {r.json["model"] for r in mock.requests} == {"model-b", "model-c"}
    assert gateway.services.cache.channels[auto].status == 1
    assert rows(gateway, "SELECT DISTINCT enabled FROM abilities WHERE channel_id = ?", auto) == [(1,)]


def test_results_of_deleted_channels_go(gateway: Gateway, mock_url: str) -> None:
    """Deleting a channel drops its stored results."""
    channel = add(gateway, mock_url, "gpt-4o-mini")
    assert test_one(gateway, channel)["success"] is True
    assert len(data(gateway.admin.get("/api/channel/tests"))) == 1
    data(gateway.admin.delete(f"/api/channel/{channel}"))
    assert data(gateway.admin.get("/api/channel/tests")) == []
    refused(gateway.admin.get("/api/channel/tests", params={"channel_id": "x"}), 200, "channel_id")


def test_test_prompt_and_periodic_runs(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    """TEST_PROMPT is what the channel is asked; CHANNEL_TEST_FREQUENCY and LOG_RETENTION_DAYS start their jobs."""
    gateway = Gateway(settings_for(tmp_path, TEST_PROMPT="Say OK.", CHANNEL_TEST_FREQUENCY="30",
                                   LOG_RETENTION_DAYS="90"))
    try:
        assert set(gateway.services.operations.jobs) == {"tollway-channel-tests", "tollway-log-retention",
                                                         "tollway-changes", "tollway-lease-reclaim",
                                                         "tollway-changes-prune", "tollway-log-detail-retention"}
        status = data(gateway.admin.get("/api/channel/test/status"))  # zeros before any run
        assert status["running"] is False and status["total"] == 0 and status["started_at"] == 0
        channel = add(gateway, mock_url, "gpt-4o-mini")
        assert test_one(gateway, channel)["success"] is True
        assert mock.requests[-1].json["messages"][0]["content"] == "Say OK."
        tester = gateway.services.operations.tester

        async def one_turn() -> int:
            # The periodic loop with no pause between turns: it starts a run, waits for it, then goes on.
            stopping = asyncio.Event()
            task = asyncio.create_task(tester.periodic(0, stopping))
            while tester.run is None:
                await asyncio.sleep(0.01)
            first = tester.run
            while not first.finished_at:
                await asyncio.sleep(0.01)
            stopping.set()
            await tester.stop()
            await task
            return first.done

        assert gateway.server.run(one_turn()) == 1
    finally:
        gateway.close()
    plain = Gateway(settings_for(tmp_path / "plain"))
    try:
        # Kept request/response bodies always expire (LOG_DETAIL_STORAGE_HOURS, 72 by default).
        assert set(plain.services.operations.jobs) == {"tollway-changes", "tollway-lease-reclaim",
                                                       "tollway-changes-prune", "tollway-log-detail-retention"}
    finally:
        plain.close()


def test_channel_test_routes_need_an_admin(gateway: Gateway, alice: tuple[int, httpx.Client], mock_url: str) -> None:
    """Common users are refused (One API's 200) on every channel test route, and nothing is tested."""
    channel = add(gateway, mock_url, "gpt-4o-mini")
    _, client = alice
    for path in (f"/api/channel/test/{channel}", "/api/channel/test", "/api/channel/test/status",
                 "/api/channel/tests", f"/api/channel/{channel}/tests"):
        refused(client.get(path), 200)
    assert dicts(gateway, "SELECT * FROM channel_tests") == []
    assert row(gateway, "channels", channel)["test_time"] == 0
