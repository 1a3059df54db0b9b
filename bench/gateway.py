"""Tollway as a bench target: started as `tollway serve` on a fresh SQLite file, set up through the management API.

The relay key the load uses belongs to a common user with a limited (not unlimited) token, so every
request goes through the real checks, the quota hold and settlement, and a consume log.
"""

from __future__ import annotations

import functools
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.processes import BenchError, Server, free_port, launch

MODEL = "gpt-4o-mini"
USERNAME = "bench"
USER_QUOTA = 10**13  # far more than any run can spend (a call here costs a few quota units)
TOKEN_QUOTA = 10**12
LOG_CONSUME = 2
_PAGE = 100  # the management API's largest page
METRICS_TOKEN = "bench-metrics"

# Settings Tollway reads from the environment that would change what is measured if inherited from the shell.
_INHERITED_SETTINGS = (
    "SQL_DSN", "LOG_SQL_DSN", "REDIS_CONN_STRING", "SQLITE_PATH", "SQLITE_BUSY_TIMEOUT", "TOLLWAY_DATA_DIR",
    "SYNC_FREQUENCY", "BATCH_UPDATE_INTERVAL", "BATCH_UPDATE_ENABLED", "MEMORY_CACHE_ENABLED", "RELAY_TIMEOUT",
    "RELAY_PROXY", "UPSTREAM_CLIENT", "ENFORCE_INCLUDE_USAGE", "NODE_TYPE", "DEBUG", "DEBUG_SQL", "LOG_LEVEL",
    "SESSION_SECRET", "WORKERS", "LEASE_TTL", "PROMETHEUS_MULTIPROC_DIR", "SQL_MAX_OPEN_CONNS", "SQL_MAX_IDLE_CONNS",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)


@dataclass
class Gateway:
    """A running, configured Tollway: its process, the root's admin client and the bench user's relay key."""

    server: Server
    admin: httpx.Client
    relay_key: str
    user_id: int

    def close(self) -> None:
        self.admin.close()


def tollway_command() -> list[str]:
    """`tollway serve`: the console script beside this interpreter, else on PATH, else the module."""
    beside = Path(sys.executable).with_name("tollway")
    if beside.is_file():
        return [str(beside), "serve"]
    found = shutil.which("tollway")
    if found:
        return [found, "serve"]
    return [sys.executable, "-m", "tollway.cli.main", "serve"]


def start(data_dir: Path, log_dir: Path, upstream_url: str, *, workers: int = 1, name: str = "tollway",
          extra_env: dict[str, str] | None = None) -> Gateway:
    """Start Tollway with default settings and `workers` worker processes on a new SQLite database, and configure a
    channel, a user and a token."""
    data_dir.mkdir(parents=True, exist_ok=True)
    access_token = secrets.token_hex(16)
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SQLITE_PATH": str(data_dir / "tollway.db"),
        "INITIAL_ROOT_ACCESS_TOKEN": access_token,
        "INITIAL_ROOT_TOKEN": secrets.token_hex(24),
        "INITIAL_ROOT_PASSWORD": secrets.token_urlsafe(18),
        "ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "METRICS_TOKEN": METRICS_TOKEN,
        **(extra_env or {}),
    }
    # The data directory as working directory, so that no stray `.env` file is read.
    server = launch(name, [*tollway_command(), "--port", str(port), "--workers", str(workers)], log_dir, env=env,
                    unset=_INHERITED_SETTINGS, cwd=data_dir)
    server.wait_ready("/api/status")
    admin = httpx.Client(base_url=server.url, headers={"Authorization": access_token}, timeout=30)
    try:
        relay_key, user_id = _configure(admin, upstream_url)
    except BaseException:
        admin.close()
        server.stop()
        raise
    return Gateway(server, admin, relay_key, user_id)


def api(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """Call the management API and return its `data`, or raise BenchError with its message."""
    response = client.request(method, path, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("success"):
        raise BenchError(f"{method} {path} failed: HTTP {response.status_code} {response.text[:300]}")
    return body.get("data")


def _configure(admin: httpx.Client, upstream_url: str) -> tuple[str, int]:
    api(admin, "POST", "/api/channel/", json={
        "type": 1, "name": "bench", "key": "sk-x", "base_url": upstream_url, "models": MODEL, "group": "default",
    })
    password = secrets.token_urlsafe(12)
    user = api(admin, "POST", "/api/user/", json={"username": USERNAME, "password": password})
    user_id = int(user["id"])
    api(admin, "PUT", "/api/user/", json={"id": user_id, "quota": USER_QUOTA})
    with httpx.Client(base_url=str(admin.base_url), timeout=30) as session:
        api(session, "POST", "/api/user/login", json={"username": USERNAME, "password": password})
        token = api(session, "POST", "/api/token/", json={
            "name": "bench", "remain_quota": TOKEN_QUOTA, "unlimited_quota": False, "expired_time": -1,
        })
    return "sk-" + str(token["key"]), user_id


@dataclass
class LogCheck:
    """What Tollway wrote for the bench user, against what the load generator was answered."""

    expected: int
    consume_logs: int
    request_count: int
    used_quota: int
    logged_quota: int
    unseen: int = 0  # answered calls the load generator may not have counted (wrk)

    @property
    def ok(self) -> bool:
        """One consume log and one counted request per answered call, and the logs sum to the quota used."""
        return (self.expected <= self.consume_logs <= self.expected + self.unseen
                and self.consume_logs == self.request_count and self.logged_quota == self.used_quota > 0)


def check_logs(gateway: Gateway, expected: int, timeout: float = 30.0, *, unseen: int = 0) -> LogCheck:
    """Wait for the batched writes to land (BATCH_UPDATE_INTERVAL, 5 s by default), then count through the API."""
    deadline = time.monotonic() + timeout
    while True:
        check = replace(_read_check(gateway, expected), unseen=unseen)
        if check.ok or time.monotonic() > deadline:
            return check
        time.sleep(0.5)


def _read_check(gateway: Gateway, expected: int) -> LogCheck:
    admin = gateway.admin
    user = api(admin, "GET", f"/api/user/{gateway.user_id}")
    stat = api(admin, "GET", "/api/log/stat", params={"type": LOG_CONSUME, "username": USERNAME})
    return LogCheck(
        expected=expected,
        consume_logs=count_logs(admin, {"type": LOG_CONSUME, "username": USERNAME}),
        request_count=int(user["request_count"]),
        used_quota=int(user["used_quota"]),
        logged_quota=int(stat["quota"]),
    )


def count_logs(admin: httpx.Client, filters: dict[str, Any]) -> int:
    """The number of logs matching `filters`: the API only pages, so search for the last page (log n lookups)."""

    @functools.cache
    def page(number: int) -> int:
        rows = api(admin, "GET", "/api/log/", params={**filters, "p": number, "size": _PAGE})
        return len(rows)

    high = 1
    while page(high) == _PAGE:
        high *= 2
    low = high // 2  # page `low` is full (or low is 0 and we have not looked), page `high` is not
    while high - low > 1:
        middle = (low + high) // 2
        if page(middle) == _PAGE:
            low = middle
        else:
            high = middle
    if low == 0 and page(0) < _PAGE:
        return page(0)
    return high * _PAGE + page(high)



@dataclass
class Flushes:
    """What Tollway's batch writer did during the run, from its metrics."""

    count: int
    seconds: float
    logs: int
    queued: int  # log rows waiting when read, after the load stopped

    def describe(self) -> str:
        mean = self.seconds / self.count * 1000 if self.count else 0.0
        per = self.logs / self.count if self.count else 0
        return (f"{self.count} batch writes, {mean:.1f} ms each on average for {per:.0f} log rows "
                f"(one transaction each); {self.queued} rows queued at the end")


def flushes(gateway: Gateway) -> Flushes:
    """Read the keeper's flush figures from `GET /metrics`."""
    text = httpx.get(gateway.server.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                     timeout=30).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("tollway_batch_flush_seconds_count", "tollway_batch_flush_seconds_sum",
                            "tollway_batch_flushed_logs_total", "tollway_batch_queue_logs")):
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = float(value)
    return Flushes(int(values.get("tollway_batch_flush_seconds_count", 0)),
                   values.get("tollway_batch_flush_seconds_sum", 0.0),
                   int(values.get("tollway_batch_flushed_logs_total", 0)),
                   int(values.get("tollway_batch_queue_logs", 0)))
