"""Fixtures for sign-up, sign-in and security tests: a real SMTP server, fake sign-in providers, a wired gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Gateway, ServerThread, ci, settings_for
from tests.upstreams.identity import CLIENT_ID, CLIENT_SECRET, TURNSTILE_SECRET, WECHAT_TOKEN, IdentityFake
from tests.upstreams.smtp import SmtpServer, SmtpSink

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpSink:
    """The SMTP server's mailbox, emptied, accepting mail without AUTH."""
    smtp_server.sink.reset()
    return smtp_server.sink


@pytest.fixture(scope="session")
def identity_server() -> Iterator[tuple[IdentityFake, ServerThread]]:
    fake = IdentityFake()
    server = ServerThread(fake.app(), lifespan="off").start()
    fake.url = server.url
    yield fake, server
    server.stop()


@pytest.fixture
def identity(identity_server: tuple[IdentityFake, ServerThread]) -> IdentityFake:
    fake, _ = identity_server
    fake.reset()
    return fake


def configure(gateway: Gateway, **options: Any) -> None:
    """Set options as root does."""
    for key, value in options.items():
        gateway.api("PUT", "/api/option/", json={"key": key, "value": value})


def mail_options(gateway: Gateway, smtp_server: SmtpServer, **extra: Any) -> None:
    configure(gateway, SMTPServer="127.0.0.1", SMTPPort=smtp_server.port, SMTPFrom="noreply@tollway.test",
              ServerAddress=gateway.url, **extra)


def open_site(tmp: Path, fake: IdentityFake, smtp_server: SmtpServer, **env: Any) -> Gateway:
    """A gateway whose mail goes to the local SMTP server and whose providers are the fakes (all switched on)."""
    gateway = Gateway(settings_for(tmp, **{"CRITICAL_RATE_LIMIT": 0, **fake.env(), **env}))
    mail_options(gateway, smtp_server)
    configure(gateway, GitHubClientId=CLIENT_ID, GitHubClientSecret=CLIENT_SECRET, GitHubOAuthEnabled=True,
              OidcClientId=CLIENT_ID, OidcClientSecret=CLIENT_SECRET, OidcWellKnown=(
                  f"{fake.url}/oidc/.well-known/openid-configuration"), OidcEnabled=True,
              LarkClientId=CLIENT_ID, LarkClientSecret=CLIENT_SECRET,
              WeChatServerAddress=f"{fake.url}/wechat", WeChatServerToken=WECHAT_TOKEN, WeChatAuthEnabled=True,
              TurnstileSiteKey="site-key", TurnstileSecretKey=TURNSTILE_SECRET)
    return gateway


@pytest.fixture
def site(tmp_path: Path, identity: IdentityFake, smtp_server: SmtpServer, smtp: SmtpSink) -> Iterator[Gateway]:
    """A fresh gateway wired to the local SMTP server and the fake providers."""
    gateway = open_site(tmp_path, identity, smtp_server)
    yield gateway
    gateway.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis, or a skip (a failure under CI=true) when it is not running."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        message = f"Redis not reachable at {REDIS_URL} ({exc})"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    yield REDIS_URL
    client.close()


# The storage tests' databases (a fresh SQLite, PostgreSQL and MariaDB database per test), for races in the stores.
from tests.storage.conftest import backend, backend_server, mariadb_server, postgres_server  # noqa: E402

__all__ = ["backend", "backend_server", "mariadb_server", "postgres_server"]
