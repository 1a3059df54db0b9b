"""The services Tollway builds once at startup and hands to every route: no module-level state."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import httpx2
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.accounts.services import AccountServices, close_accounts, open_accounts
from tollway.billing import tokenizer
from tollway.billing.ledger import Ledger
from tollway.crypto import KeyBox
from tollway.operations.jobs import Operations
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.auth import Authenticator
from tollway.relay.pipeline import Clients, Relay
from tollway.settings import Settings
from tollway.storage.cache import Cache
from tollway.storage.database import create_engine, log_url, main_url
from tollway.storage.keeper import Keeper
from tollway.storage.migrate import check_key, migrate, upgrade

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request handler may use."""

    settings: Settings
    engine: AsyncEngine
    log_engine: AsyncEngine
    keybox: KeyBox
    cache: Cache
    keeper: Keeper
    ledger: Ledger
    http: httpx2.AsyncClient
    user_content: httpx2.AsyncClient
    relay: Relay
    auth: Authenticator
    started_at: int
    operations: Operations = field(init=False)  # started once the rest exists
    accounts: AccountServices


def upstream_client(settings: Settings) -> httpx2.AsyncClient:
    """The one pooled HTTP client for every upstream call (RELAY_TIMEOUT 0 means no read timeout)."""
    limit = settings.relay_timeout_s or None
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(limit, connect=min(limit or 15.0, 15.0)),
        limits=httpx2.Limits(max_connections=None, max_keepalive_connections=512, keepalive_expiry=60),
        proxy=settings.relay_proxy or None,
        follow_redirects=False,
    )


async def start(settings: Settings, keybox: KeyBox) -> Services:
    """Open the databases (migrating them on a master node), load the cache and start the keeper."""
    engine = create_engine(main_url(settings), settings)
    separate_logs = log_url(settings)
    log_engine = create_engine(separate_logs, settings) if separate_logs else engine
    if not settings.is_slave:
        await upgrade(engine, keybox, settings)
        if log_engine is not engine:
            await migrate(log_engine, role="logs")
    else:
        await check_key(engine, keybox)
    cache = Cache(keybox)
    keeper = Keeper(
        engine, log_engine, cache,
        flush_interval=settings.batch_update_interval_s,
        sync_interval=settings.sync_frequency_s,
        spill_dir=settings.data_dir,
    )
    await keeper.start()
    # Encodings load in the background so the first request that counts tokens does not wait for them.
    asyncio.get_running_loop().run_in_executor(None, tokenizer.warm_up)
    http = upstream_client(settings)
    # Users' image URLs are fetched by a separate client with its own proxy and timeout (One API's
    # USER_CONTENT_REQUEST_*), so they never share the upstream pool or its credentials.
    user_content = httpx2.AsyncClient(timeout=settings.user_content_timeout_s,
                                     proxy=settings.user_content_proxy or None, follow_redirects=True)
    ledger = Ledger(cache, keeper)
    clients = Clients(upstream=http, user_content=user_content,
                      allow_private_content=settings.user_content_allow_private,
                      socket_timeout=settings.relay_timeout_s or None)
    relay = Relay(cache, ledger, clients, Adaptors(settings))
    accounts = await open_accounts(settings, engine, cache)
    ledger.on_low_quota = accounts.reminders.notice
    services = Services(
        settings=settings, engine=engine, log_engine=log_engine, keybox=keybox, cache=cache, keeper=keeper,
        ledger=ledger, http=http, user_content=user_content, relay=relay, auth=Authenticator(cache, keeper),
        started_at=int(time.time()), accounts=accounts,
    )
    services.operations = Operations(services)
    await services.operations.start()
    return services


async def stop(services: Services) -> None:
    """Write everything still queued, then close connections."""
    await services.operations.stop()
    await services.keeper.close()
    await close_accounts(services.accounts)
    await services.http.aclose()
    await services.user_content.aclose()
    if services.log_engine is not services.engine:
        await services.log_engine.dispose()
    await services.engine.dispose()
