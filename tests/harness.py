"""Test harness: real servers on 127.0.0.1 ports (Tollway and mock upstreams) and a client for the admin API."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import uvicorn
from starlette.types import ASGIApp

from tollway import services as service_factory
from tollway.app import create_app
from tollway.services import Services
from tollway.settings import Settings

T = TypeVar("T")

ROOT_PASSWORD = "root-password-for-tests"
ROOT_ACCESS_TOKEN = "a" * 32
ROOT_TOKEN = "R" * 48


class ServerThread:
    """Runs an ASGI app under uvicorn in a background thread on a free 127.0.0.1 port."""

    def __init__(self, app: ASGIApp, *, lifespan: str = "on") -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then, and without it Nagle's algorithm
        # meeting delayed ACKs adds ~40 ms to every response.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # surfaced by start()
            self.error = exc
        finally:
            self.loop.close()

    def start(self, timeout: float = 30) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.error!r}")
            time.sleep(0.01)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's event loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    """Settings of a test gateway on its own SQLite file, with known root credentials and fast flushes."""
    env = {
        "SQLITE_PATH": str(tmp / "tollway.db"),
        "INITIAL_ROOT_PASSWORD": ROOT_PASSWORD,
        "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS_TOKEN,
        "INITIAL_ROOT_TOKEN": ROOT_TOKEN,
        "BATCH_UPDATE_INTERVAL": "0.2",
        "ENCRYPTION_KEY": "test-encryption-key",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return Settings.from_env(env, dotenv=None)


_TEMPLATE: list[Path] = []  # a migrated, bootstrapped SQLite database made once per test session
_TEMPLATE_LOCK = threading.Lock()


def _template() -> Path:
    """The database a gateway with the default test settings has after its first start, made once."""
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            from tollway.crypto import KeyBox, load_instance_secret

            folder = Path(tempfile.mkdtemp(prefix="tollway-template-"))
            settings = settings_for(folder)

            async def first_start() -> None:
                secret, origin = load_instance_secret(settings.encryption_key, settings.data_dir)
                await service_factory.stop(await service_factory.start(settings, KeyBox(secret, origin)))

            worker = threading.Thread(target=lambda: asyncio.run(first_start()))
            worker.start()
            worker.join(120)
            _TEMPLATE.append(settings.sqlite_path)
        return _TEMPLATE[0]


def _seed(settings: Settings) -> None:
    """Start a new SQLite gateway with default test settings from a copy of the template database.

    A first start migrates the schema and hashes root's password (Argon2id, on purpose slow); each test would
    pay for it. The copy is exactly what that first start leaves, so tests see the same database.
    """
    if settings.sql_dsn or settings.log_sql_dsn or settings.sqlite_path.exists() or settings.is_slave:
        return
    base = settings_for(settings.sqlite_path.parent)
    same = all(getattr(settings, name) == getattr(base, name) for name in (
        "encryption_key", "initial_root_token", "initial_root_access_token", "initial_root_password"))
    if same and settings.sqlite_path.name == "tollway.db":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(), settings.sqlite_path)


class Gateway:
    """A running Tollway plus helpers to drive its APIs like an operator would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        _seed(settings)
        self.app = create_app(settings)
        self.server = ServerThread(self.app).start()
        self.url = self.server.url
        self.admin = self._admin_client()
        self.closed = False

    def _admin_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": ROOT_ACCESS_TOKEN}, timeout=30)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def close(self) -> None:
        self.closed = True
        self.admin.close()
        self.server.stop()

    def reset(self, folder: Path) -> None:
        """Make this gateway what a new one with the default test settings in `folder` is, on the same server: its
        services are stopped, `folder` is seeded from the template database, its services start again there (in-memory
        state included, all new), and the admin client is a new one.

        A new folder, not the old one emptied: a task of the old services still finishing (a background lease refill,
        say) then writes to the old database, as it would with a gateway of its own, not to this one.
        """
        old = self.services
        self.server.run(service_factory.stop(old))
        self.settings = settings_for(folder)
        _seed(self.settings)
        services = self.server.run(service_factory.start(self.settings, old.keybox))
        self.app.state.services = self.app.relay.services = services
        self.admin.close()
        self.admin = self._admin_client()

    # -- management API --------------------------------------------------------------------------------------

    def api(self, method: str, path: str, client: httpx.Client | None = None, **kwargs: Any) -> Any:
        """Call the management API and return `data`, failing the test if `success` is false."""
        response = (client or self.admin).request(method, path, **kwargs)
        assert response.status_code == 200, (response.status_code, response.text)
        body = response.json()
        assert body["success"], body
        return body.get("data")

    def add_channel(self, base_url: str, *, key: str = "sk-mock", models: str = "gpt-4o-mini,gpt-3.5-turbo",
                    **fields: Any) -> int:
        data = {"type": 1, "name": f"mock {base_url}", "key": key, "base_url": base_url, "models": models,
                "group": "default", **fields}
        created = self.api("POST", "/api/channel/", json=data)
        return int(created[0]["id"])

    def sign_in(self, username: str, password: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        self.api("POST", "/api/user/login", client, json={"username": username, "password": password})
        return client

    def create_user(self, username: str, *, quota: int = 0, group: str = "default",
                    password: str = "user-password-1", default_token: bool = False) -> tuple[int, httpx.Client]:
        """A common user with this quota and group, and a client signed in as them.

        Like One API, Tollway gives every new user an unlimited token named "default"; tests that count a
        user's tokens start from none unless they ask to keep it.
        """
        created = self.api("POST", "/api/user/", json={"username": username, "password": password})
        user_id = int(created["id"])
        self.api("PUT", "/api/user/", json={"id": user_id, "quota": quota, "group": group})
        client = self.sign_in(username, password)
        if not default_token:
            for token in self.api("GET", "/api/token/", client):
                self.api("DELETE", f"/api/token/{token['id']}", client)
        return user_id, client

    def create_token(self, client: httpx.Client, **fields: Any) -> str:
        """A relay token for the signed-in user of `client`; returns `sk-<key>`."""
        data = {"name": "test token", "remain_quota": 0, "unlimited_quota": True, "expired_time": -1, **fields}
        token = self.api("POST", "/api/token/", client, json=data)
        return "sk-" + token["key"]

    def openai(self, key: str = "sk-" + ROOT_TOKEN, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=self.url + "/v1", max_retries=0, timeout=30, **kwargs)

    def flush(self) -> None:
        """Write all settled quota and queued logs now."""
        self.server.run(self.services.keeper.flush())


class ModuleGateway:
    """The `gateway` of a test module: one server for the module, as good as new for each test (Gateway.reset).

    Starting and stopping a server costs about a second; starting the services again costs a fraction of that.
    A test that closes the gateway gets a new one for the next test.
    """

    def __init__(self, folders: Callable[[], Path]) -> None:
        self.folders = folders
        self.current: Gateway | None = None
        self.used = False

    def fresh(self) -> Gateway:
        """A gateway no test has touched yet."""
        gateway = self.current
        if gateway is None or gateway.closed:
            gateway = self.current = Gateway(settings_for(self.folders()))
        elif self.used:
            gateway.reset(self.folders())
        self.used = True
        return gateway

    def close(self) -> None:
        if self.current is not None and not self.current.closed:
            self.current.close()


def ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
