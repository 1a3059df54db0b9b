"""Faults, as production meets them: upstreams that reset, hang, answer errors of every shape or broken streams,
clients that go away or send bodies too slowly or too big. Every call ends in a clear error or a clean answer,
and is billed for what was delivered or not at all.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.harness import Gateway, settings_for
from tests.upstreams.fault_mock import FAULTS, PIECES, FaultMock

HI = [{"role": "user", "content": "hi"}]
FULL = "".join(PIECES)


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultMock]:
    mock = FaultMock().start()
    yield mock
    mock.stop()


@pytest.fixture
def gateway(tmp_path: Path, faults: FaultMock) -> Iterator[Gateway]:
    gw = Gateway(settings_for(tmp_path, RELAY_TIMEOUT="2", REQUEST_BODY_TIMEOUT="1"))
    gw.add_channel(faults.url, models=",".join(FAULTS))
    faults.release.clear()
    yield gw
    faults.release.set()
    gw.close()


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    """A common user's limited token, so every charge shows in its figures; the SDK does not retry."""
    _, session = gateway.create_user("carol", quota=10_000_000)
    key = gateway.create_token(session, remain_quota=5_000_000, unlimited_quota=False)
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def billed(gateway: Gateway) -> list[tuple[int, int, int]]:
    """(quota, prompt tokens, completion tokens) of carol's consume logs, once everything is written."""
    gateway.flush()
    db = sqlite3.connect(gateway.settings.sqlite_path)
    try:
        rows = db.execute("SELECT quota, prompt_tokens, completion_tokens FROM logs WHERE type = 2 AND "
                          "username = 'carol' ORDER BY id").fetchall()
        [(used, remaining)] = db.execute("SELECT used_quota, quota FROM users WHERE username = 'carol'").fetchall()
    finally:
        db.close()
    assert used == sum(row[0] for row in rows) and remaining == 10_000_000 - used
    return [tuple(row) for row in rows]


@pytest.mark.parametrize(("model", "status"), [("reset_before", 502), ("reset_during", 502), ("hang", 504),
                                               ("status_500_json", 500), ("status_429_json", 429),
                                               ("status_502_html", 502)])
@pytest.mark.parametrize("stream", [False, True])
def test_a_failed_upstream_is_a_clean_error_that_costs_nothing(gateway: Gateway, client: openai.OpenAI, model: str,
                                                               status: int, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        answer = client.chat.completions.create(model=model, messages=HI, stream=stream)
        if stream:
            list(answer)
    assert failed.value.status_code == status
    body = failed.value.response.json()
    assert set(body["error"]) >= {"message", "type", "code"} and "request id" in body["error"]["message"]
    if model == "status_502_html":
        assert "502" in body["error"]["message"]
    assert billed(gateway) == []


@pytest.mark.parametrize("model", ["reset_before", "status_500_json", "broken_first_event", "error_in_200_stream",
                                   "hang"])
def test_another_channel_serves_what_a_faulty_one_cannot(gateway: Gateway, faults: FaultMock, client: openai.OpenAI,
                                                         model: str) -> None:
    gateway.add_channel(faults.url, models="gpt-4o-mini", priority=10, model_mapping={"gpt-4o-mini": model})
    gateway.add_channel(faults.url, models="gpt-4o-mini")
    gateway.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FULL
    assert len(billed(gateway)) == 1


def test_broken_json_before_any_output_is_a_502(gateway: Gateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        list(client.chat.completions.create(model="broken_first_event", messages=HI, stream=True))
    assert failed.value.status_code == 502 and "not JSON" in failed.value.message
    assert billed(gateway) == []


def test_broken_json_mid_stream_ends_in_band_and_bills_what_was_delivered(gateway: Gateway,
                                                                          client: openai.OpenAI) -> None:
    received: list[str] = []
    # The SDK raises its own APIError, not a JSONDecodeError, from the in-band error event.
    with pytest.raises(openai.APIError, match="not JSON"):
        for chunk in client.chat.completions.create(model="broken_mid_stream", messages=HI, stream=True):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert 0 < len("".join(received)) < len(FULL)
    [(quota, _prompt, completion)] = billed(gateway)
    assert 0 < completion < len(PIECES) and quota > 0


def test_a_stream_reset_midway_ends_in_band_and_bills_what_was_delivered(gateway: Gateway,
                                                                         client: openai.OpenAI) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError, match="broke off"):
        for chunk in client.chat.completions.create(model="reset_mid_stream", messages=HI, stream=True):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert 0 < len("".join(received)) < len(FULL)
    [(_quota, _prompt, completion)] = billed(gateway)
    assert 0 < completion < len(PIECES)


def test_odd_field_types_are_tolerated(gateway: Gateway, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="odd_created", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FULL
    assert len(billed(gateway)) == 1


def test_huge_chunks_are_relayed_whole(gateway: Gateway, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="huge_chunk", messages=HI, stream=True))
    assert len("".join(c.choices[0].delta.content or "" for c in chunks if c.choices)) == 2_000_000
    assert len(billed(gateway)) == 1


def test_a_client_that_goes_away_mid_stream_is_billed_once_for_what_it_got(gateway: Gateway, faults: FaultMock,
                                                                          client: openai.OpenAI) -> None:
    key = client.api_key
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "slow_stream", "messages": HI, "stream": True}, timeout=30) as answer:
        first = next(answer.iter_bytes())
        assert b"data: " in first
    # The client is gone; the upstream finishes later. The call settles once, for what was delivered.
    time.sleep(1.5)
    faults.release.set()
    deadline = time.monotonic() + 10
    rows = billed(gateway)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = billed(gateway)
    assert len(rows) == 1
    time.sleep(0.5)
    assert len(billed(gateway)) == 1


def test_a_body_that_stops_arriving_gets_408(gateway: Gateway, client: openai.OpenAI) -> None:
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + client.api_key.encode() + b"\r\nContent-Length: 5000\r\n\r\n{\"mo")
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}").get("error", {}).get("code") in (None,
                                                                                               "request_timeout")


def test_a_huge_body_gets_a_413_the_client_can_read(gateway: Gateway, client: openai.OpenAI) -> None:
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"x" * (150 << 20) + b'"}]}'
    answer = httpx.post(gateway.url + "/v1/chat/completions", content=body, timeout=120,
                        headers={"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"
    assert billed(gateway) == []
