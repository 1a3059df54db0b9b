"""`tollway serve` as an operator runs it: first start, a random root password, and nothing lost on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.upstreams.openai_mock import OpenAIMock

TOLLWAY = [sys.executable, "-m", "tollway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "SQLITE_PATH": str(tmp_path / "data" / "tollway.db"), "PORT": str(port),
               "TOLLWAY_DATA_DIR": str(tmp_path / "data"), **env}
    # Its own process group, so that a test can kill the supervisor and its workers at once, as a crash would.
    process = subprocess.Popen([*TOLLWAY, "serve"], cwd=tmp_path, env=environ, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"tollway serve did not start: {process.stderr.read() if process.stderr else ''}")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status names SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM), err
    return err


def test_first_start_prints_a_random_root_password_once(tmp_path: Path) -> None:
    port = free_port()
    process = start(tmp_path, port)
    assert process.stderr is not None
    stop_output = stop(process)
    match = re.search(r"password: (\S+)", stop_output)
    assert match, stop_output
    password = match.group(1)
    assert password != "123456" and len(password) >= 12
    process = start(tmp_path, port)
    login = httpx.post(f"http://127.0.0.1:{port}/api/user/login", json={"username": "root", "password": password})
    assert login.json()["success"] is True
    assert "password:" not in stop(process)


def test_sigterm_flushes_quota_and_logs(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    port = free_port()
    token = "T" * 48
    process = start(tmp_path, port, INITIAL_ROOT_PASSWORD="a-long-password", INITIAL_ROOT_ACCESS_TOKEN="b" * 32,
                    INITIAL_ROOT_TOKEN=token, BATCH_UPDATE_INTERVAL="3600", ENCRYPTION_KEY="k")
    base = f"http://127.0.0.1:{port}"
    try:
        created = httpx.post(f"{base}/api/channel/", headers={"Authorization": "b" * 32}, json={
            "type": 1, "name": "mock", "key": "sk-mock", "base_url": mock_url, "models": "gpt-4o-mini"}).json()
        assert created["success"], created
        for _ in range(5):
            answer = httpx.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer sk-{token}"},
                                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            assert answer.status_code == 200, answer.text
    finally:
        stop(process)
    db = sqlite3.connect(tmp_path / "data" / "tollway.db")
    logs, quota = db.execute("SELECT COUNT(*), SUM(quota) FROM logs WHERE type = 2").fetchone()
    used = db.execute("SELECT used_quota FROM users WHERE username = 'root'").fetchone()[0]
    journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert logs == 5 and quota == used > 0
    assert journal == "wal"


def test_migrate_command(tmp_path: Path) -> None:
    environ = {**os.environ, "SQLITE_PATH": str(tmp_path / "x.db"), "TOLLWAY_DATA_DIR": str(tmp_path)}
    result = subprocess.run([*TOLLWAY, "migrate"], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(tmp_path / "x.db").execute("SELECT name FROM sqlite_master")}
    assert {"users", "channels", "tokens", "abilities", "logs", "options", "redemptions"} <= tables


@pytest.mark.parametrize("value", ["eighty"])
def test_bad_environment_is_reported(tmp_path: Path, value: str) -> None:
    result = subprocess.run([*TOLLWAY, "serve"], env={**os.environ, "PORT": value}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "PORT" in result.stderr


def test_workers_share_one_port_and_bill_every_call_once(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    """`--workers 2` on SQLite: calls spread over both workers are each billed and logged once, /metrics counts them all
    whichever worker answers it, and SIGTERM gives every quota lease back."""
    port = free_port()
    token = "W" * 48
    process = start(tmp_path, port, INITIAL_ROOT_PASSWORD="a-long-password", INITIAL_ROOT_ACCESS_TOKEN="b" * 32,
                    INITIAL_ROOT_TOKEN=token, ENCRYPTION_KEY="k", WORKERS="2", METRICS_TOKEN="m")
    base = f"http://127.0.0.1:{port}"
    try:
        created = httpx.post(f"{base}/api/channel/", headers={"Authorization": "b" * 32}, json={
            "type": 1, "name": "mock", "key": "sk-mock", "base_url": mock_url, "models": "gpt-4o-mini"}).json()
        assert created["success"], created
        for _ in range(20):
            # A new connection each time, so that the kernel hands calls to either worker.
            answer = httpx.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer sk-{token}"},
                                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            assert answer.status_code == 200, answer.text
        # Whichever worker a scrape reaches counts every worker's calls.
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer m"}).text
        calls = [line for line in scraped.splitlines() if line.startswith("tollway_calls_total{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in calls) == 20, scraped
    finally:
        err = stop(process)
    db = sqlite3.connect(tmp_path / "data" / "tollway.db")
    logs, quota = db.execute("SELECT COUNT(*), SUM(quota) FROM logs WHERE type = 2").fetchone()
    used, count, leased = db.execute("SELECT used_quota, request_count, leased FROM users WHERE username = 'root'"
                                     ).fetchone()
    leases = db.execute("SELECT COUNT(*) FROM tollway_leases").fetchone()[0]
    db.close()
    assert logs == count == 20 and quota == used > 0
    assert leased == 0 and leases == 0
    assert err.count("Application startup complete") == 2


def test_a_user_created_on_one_worker_signs_in_and_works_on_the_other_at_once(tmp_path: Path) -> None:
    """`--workers 2`: the operator creates a user and the user at once signs in and creates a token, each request on a
    new connection (so on either worker); none is refused for a user or session the answering worker has not seen."""
    port = free_port()
    process = start(tmp_path, port, INITIAL_ROOT_PASSWORD="a-long-password", INITIAL_ROOT_ACCESS_TOKEN="b" * 32,
                    ENCRYPTION_KEY="k", WORKERS="2")
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": "b" * 32}
    try:
        for n in range(6):
            created = httpx.post(f"{base}/api/user/", headers=admin,
                                 json={"username": f"u{n}", "password": "a-long-password"}).json()
            assert created["success"], created
            signed = httpx.post(f"{base}/api/user/login", json={"username": f"u{n}", "password": "a-long-password"})
            assert signed.json()["success"], signed.text
            token = httpx.post(f"{base}/api/token/", cookies=signed.cookies,
                               json={"name": "t", "remain_quota": 10, "expired_time": -1}).json()
            assert token["success"], token
    finally:
        stop(process)


def test_default_workers_follow_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker per usable CPU, at most 8, and no more than the memory allows (384 MB each)."""
    from tollway.cli import processes

    monkeypatch.setattr(processes, "_usable_cpus", lambda: 16)
    monkeypatch.setattr(processes, "_memory_bytes", lambda: 64 << 30)
    assert processes.default_workers() == 8
    monkeypatch.setattr(processes, "_usable_cpus", lambda: 2)
    assert processes.default_workers() == 2
    monkeypatch.setattr(processes, "_memory_bytes", lambda: 512 << 20)
    assert processes.default_workers() == 1
    monkeypatch.setattr(processes, "_memory_bytes", lambda: 0)  # unknown
    assert processes.default_workers() == 2


def test_zero_workers_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([*TOLLWAY, "serve", "--workers", "0"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "--workers" in result.stderr
