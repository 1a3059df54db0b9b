"""Several real `tollway serve` processes on one PostgreSQL or MariaDB database, driven like an operator would."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.storage.conftest import Server

ROOT_ACCESS_TOKEN = "c" * 32
STARTUP_S = 120.0  # generous: three nodes start at once on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """One `tollway serve` (its supervisor and workers in one process group)."""

    name: str
    env: dict[str, str]
    workers: int
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "TOLLWAY_DATA_DIR": str(self.data_dir), "PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tollway", "serve", "--workers", str(self.workers)], cwd=self.data_dir,
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/api/status", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not start in {timeout} s:\n{self.output()[-4000:]}")

    def wait_for_output(self, needle: str, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output():
            assert time.monotonic() < deadline, f"{self.name} never said {needle!r}:\n{self.output()[-4000:]}"
            assert self.process is not None and self.process.poll() is None, self.output()[-4000:]
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole node (supervisor and workers), as a crashed machine or the OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def terminate(self) -> None:
        """Send SIGTERM without waiting (stop() waits), so that several nodes stop together."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM, as an operator stops it: calls finish, charges are written, leases given back."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": ROOT_ACCESS_TOKEN}, timeout=60)


def dsn(server: Server, database: str) -> str:
    """One API's DSN forms: a postgres:// URL, or go-sql-driver's `user:pw@tcp(host:port)/db`."""
    url = server.admin.url
    password = f":{quote(url.password or '', safe='')}" if url.password else ""
    if server.kind == "postgresql":
        return f"postgres://{url.username}{password}@{url.host}:{url.port or 5432}/{database}?sslmode=disable"
    return f"{url.username}{password}@tcp({url.host}:{url.port or 3306})/{database}?charset=utf8mb4&parseTime=True"


async def create_database(server: Server) -> tuple[str, AsyncEngine]:
    """A new empty database on the server, and an engine on it for the test's own checks."""
    name = f"tollway_c_{secrets.token_hex(4)}"
    async with server.admin.connect() as conn:
        quoted = f'"{name}"' if server.kind == "postgresql" else f"`{name}`"
        await conn.execute(text(f"CREATE DATABASE {quoted}"))
    return name, create_async_engine(server.url(name), pool_size=2, max_overflow=2)


async def drop_database(server: Server, name: str, engine: AsyncEngine) -> None:
    await engine.dispose()
    async with server.admin.connect() as conn:
        if server.kind == "postgresql":
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return [dict(row) for row in result.mappings().all()] if result.returns_rows else []


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["success"], (response.status_code, body)
    return body.get("data")
