"""Billing end to end: One API's formula, one log per call, and no overdraft under concurrent load."""

from __future__ import annotations

import math
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]


def figures(gateway: Gateway, user_id: int) -> dict[str, int]:
    """Quota figures straight from the database after a flush."""
    gateway.flush()
    db = sqlite3.connect(gateway.settings.sqlite_path)
    try:
        quota, used, count = db.execute("SELECT quota, used_quota, request_count FROM users WHERE id = ?",
                                        (user_id,)).fetchone()
        token_remain, token_used = db.execute("SELECT remain_quota, used_quota FROM tokens WHERE user_id = ?",
                                              (user_id,)).fetchone()
        channel_used = db.execute("SELECT SUM(used_quota) FROM channels").fetchone()[0]
        logs = db.execute("SELECT COUNT(*), COALESCE(SUM(quota), 0) FROM logs WHERE type = 2 AND user_id = ?",
                          (user_id,)).fetchone()
    finally:
        db.close()
    return {"quota": quota, "used": used, "count": count, "token_remain": token_remain, "token_used": token_used,
            "channel_used": channel_used, "logs": logs[0], "log_quota": logs[1]}


def test_cost_follows_one_api_formula(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    relay = gateway
    relay.add_channel(mock_url, group="default,vip")
    relay.api("PUT", "/api/option/", json={"key": "GroupRatio", "value": '{"default": 1, "vip": 2}'})
    user_id, client = relay.create_user("paula", quota=1_000_000, group="vip")
    key = relay.create_token(client, name="paula's key", unlimited_quota=False, remain_quota=100_000)
    mock.plan("gpt-4o-mini", prompt_tokens=1000, pieces=["x"] * 250)
    response = relay.openai(key).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    request_id = response.headers["x-oneapi-request-id"]
    # (1000 prompt + 250 completion × 4) × model ratio 0.075 × group ratio 2 = 300.
    expected = math.ceil((1000 + 250 * 4) * 0.075 * 2)
    after = figures(relay, user_id)
    assert after == {"quota": 1_000_000 - expected, "used": expected, "count": 1, "token_remain": 100_000 - expected,
                     "token_used": expected, "channel_used": expected, "logs": 1, "log_quota": expected}
    log = relay.api("GET", "/api/log/self", client)[0]
    assert log["token_name"] == "paula's key" and log["model_name"] == "gpt-4o-mini"
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (1000, 250, expected)
    assert log["request_id"] == request_id and log["channel"] > 0 and log["is_stream"] is False
    assert log["elapsed_time"] >= log["first_byte_time"] >= 0
    assert "group ratio 2" in log["content"]


def test_unlimited_token_still_charges_the_user(relay: Gateway, mock: OpenAIMock) -> None:
    user_id, client = relay.create_user("quinn", quota=10_000)
    relay.openai(relay.create_token(client)).chat.completions.create(model="gpt-4o-mini", messages=HI)
    after = figures(relay, user_id)
    assert after["quota"] < 10_000 and after["token_remain"] == 0 and after["token_used"] == after["used"] > 0


def test_logging_can_be_switched_off(relay: Gateway, mock: OpenAIMock) -> None:
    relay.api("PUT", "/api/option/", json={"key": "LogConsumeEnabled", "value": "false"})
    user_id, client = relay.create_user("rita", quota=10_000)
    relay.openai(relay.create_token(client)).chat.completions.create(model="gpt-4o-mini", messages=HI)
    after = figures(relay, user_id)
    assert after["logs"] == 0 and after["used"] > 0


def _burst(gateway: Gateway, key: str, calls: int, *, stream: bool = False) -> list[int]:
    body = {"model": "gpt-4o-mini", "messages": HI, "stream": stream}

    def one(_: int) -> int:
        response = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=60,
                              headers={"Authorization": f"Bearer {key}"})
        return response.status_code

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(one, range(calls)))


@pytest.mark.parametrize("stream", [False, True])
def test_concurrent_burst_never_overdraws_the_user(relay: Gateway, mock: OpenAIMock, stream: bool) -> None:
    # Each call costs ceil((1000 + 5 × 4) × 0.075) = 77 but holds only ~39 up front, so settlement must cap.
    mock.plan("gpt-4o-mini", prompt_tokens=1000, delay=0.01)
    user_id, client = relay.create_user("sam", quota=1000)
    statuses = _burst(relay, relay.create_token(client), 40, stream=stream)
    assert set(statuses) <= {200, 403} and 200 in statuses and 403 in statuses
    after = figures(relay, user_id)
    assert after["quota"] >= 0
    assert after["quota"] + after["used"] == 1000
    assert after["logs"] == statuses.count(200) == after["count"]
    assert after["log_quota"] == after["used"] == after["token_used"] == after["channel_used"]


def test_concurrent_burst_never_overdraws_the_token(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", prompt_tokens=1000, delay=0.01)
    user_id, client = relay.create_user("tara", quota=1_000_000)
    key = relay.create_token(client, unlimited_quota=False, remain_quota=500)
    statuses = _burst(relay, key, 30)
    after = figures(relay, user_id)
    assert after["token_remain"] >= 0 and after["token_remain"] + after["token_used"] == 500
    assert after["logs"] == statuses.count(200) and after["log_quota"] == after["used"] == after["token_used"]


def test_client_leaving_mid_stream_settles_once(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", pieces=["word "] * 50, delay=0.02, usage="never")
    user_id, client = relay.create_user("uma", quota=100_000)
    key = relay.create_token(client)
    with httpx.stream("POST", relay.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "messages": HI, "stream": True}) as response:
        for line in response.iter_lines():
            if "word" in line:
                break  # hang up after the first piece
    import time

    deadline = time.monotonic() + 10
    while figures(relay, user_id)["logs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    after = figures(relay, user_id)
    assert after["logs"] == 1 and 0 < after["used"] == after["log_quota"]
    assert after["quota"] + after["used"] == 100_000


def test_failed_calls_are_refunded(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", status=500)
    user_id, client = relay.create_user("vic", quota=5000)
    key = relay.create_token(client, unlimited_quota=False, remain_quota=5000)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            relay.openai(key).chat.completions.create(model="gpt-4o-mini", messages=HI)
    after = figures(relay, user_id)
    assert (after["quota"], after["token_remain"], after["logs"]) == (5000, 5000, 0)
