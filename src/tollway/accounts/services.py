"""The account and security services built at startup: Redis, mail, codes, sessions, rate limits, reminders."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx2

from tollway.accounts.codes import Codes
from tollway.accounts.mail import Mailer
from tollway.accounts.oauth import OidcDiscovery
from tollway.accounts.ratelimit import RateLimiter
from tollway.accounts.reminders import Reminders
from tollway.accounts.sessions import SessionRegistry
from tollway.settings import Settings
from tollway.storage.cache import Cache
from tollway.storage.database import Engine

log = logging.getLogger(__name__)

PROVIDER_TIMEOUT_S = 10.0
SESSION_REFRESH_MAX_S = 30.0


@dataclass
class AccountServices:
    redis: Any | None  # redis.asyncio client when REDIS_CONN_STRING is set
    http: httpx2.AsyncClient  # for sign-in providers, Turnstile and the WeChat server
    mailer: Mailer
    codes: Codes
    sessions: SessionRegistry
    limiter: RateLimiter
    reminders: Reminders
    oidc: OidcDiscovery


def redis_client(settings: Settings) -> Any | None:
    """A redis.asyncio client from One API's REDIS_CONN_STRING (a URL; with REDIS_MASTER_NAME, sentinel addresses)."""
    if not settings.redis_conn_string:
        return None
    import redis.asyncio as redis
    from redis.asyncio.sentinel import Sentinel

    password = settings.redis_password or None
    if settings.redis_master_name:
        hosts = []
        for address in settings.redis_conn_string.split(","):
            host, _, port = address.strip().removeprefix("redis://").rpartition(":")
            hosts.append((host or "127.0.0.1", int(port or 26379)))
        # Through Any: redis-py annotates Sentinel's constructor only from 8.x on, and either release may be installed.
        connect: Any = Sentinel
        sentinel = connect(hosts, socket_timeout=2, password=password, sentinel_kwargs={"password": password})
        return sentinel.master_for(settings.redis_master_name, password=password, socket_timeout=2)
    kwargs: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}
    if password:
        kwargs["password"] = password
    return redis.from_url(settings.redis_conn_string, **kwargs)


async def open_accounts(settings: Settings, engine: Engine, cache: Cache) -> AccountServices:
    """Connect to Redis (if configured), load the open sessions and start their refresh."""
    redis = redis_client(settings)
    if redis is not None:
        try:
            await redis.ping()
        except Exception as exc:
            await redis.aclose()
            raise RuntimeError(f"REDIS_CONN_STRING is set but Redis cannot be reached: {exc}") from exc
    mailer = Mailer(lambda: cache.options)
    sessions = SessionRegistry(engine, refresh_s=min(float(settings.sync_frequency_s), SESSION_REFRESH_MAX_S))
    await sessions.start()
    return AccountServices(
        redis=redis, http=httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT_S, follow_redirects=False),
        mailer=mailer, codes=Codes(engine, redis), sessions=sessions, limiter=RateLimiter(redis),
        reminders=Reminders(mailer, lambda: cache.options), oidc=OidcDiscovery(),
    )


async def close_accounts(accounts: AccountServices) -> None:
    await accounts.sessions.close()
    await accounts.mailer.drain()
    await accounts.http.aclose()
    if accounts.redis is not None:
        await accounts.redis.aclose()
