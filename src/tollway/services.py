"""The services Tollway builds once at startup and hands to every route: no module-level state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from tollway.accounts.services import AccountServices, close_accounts, open_accounts
from tollway.aiproxy.admin_key import AdminKey
from tollway.billing import tokenizer
from tollway.billing.ledger import Ledger
from tollway.crypto import KeyBox
from tollway.guards import Guards, close_guards, open_guards
from tollway.operations.balances import BalanceUpdater
from tollway.operations.changes import ChangeFollower
from tollway.operations.channel_tests import ChannelTester
from tollway.operations.jobs import Operations
from tollway.operations.notices import Notices
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.aiohttp_transport import AiohttpTransport
from tollway.relay.auth import Authenticator
from tollway.relay.dialogue import Dialogue
from tollway.relay.http1_transport import Http1Transport
from tollway.relay.image_fetcher import ImageFetcher
from tollway.relay.pipeline import Relay
from tollway.relay.policy import Policy
from tollway.relay.transport import Transport
from tollway.routing.current import CurrentRoutes
from tollway.settings import Settings
from tollway.storage.cache import Cache
from tollway.storage.database import Engine, create_engine, log_url, main_url
from tollway.storage.keeper import Keeper
from tollway.storage.migrate import check_key, migrate, upgrade, wait_for_schema

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request handler may use."""

    settings: Settings
    engine: Engine
    log_engine: Engine
    keybox: KeyBox
    cache: Cache
    routes: CurrentRoutes  # the routing table over the cache's channels
    keeper: Keeper
    ledger: Ledger
    transport: Transport
    relay: Relay
    auth: Authenticator
    started_at: int
    accounts: AccountServices
    guards: Guards  # channel health, relay rate limits, metrics
    notices: Notices
    operations: Operations  # started once the rest exists


def open_transport(settings: Settings) -> Transport:
    """The upstream client UPSTREAM_CLIENT names: the lean HTTP/1.1 client by default, or aiohttp."""
    read_timeout = settings.relay_timeout_s or None
    if settings.upstream_client == "aiohttp":
        return AiohttpTransport(read_timeout=read_timeout, proxy=settings.relay_proxy)
    return Http1Transport(read_timeout=read_timeout, proxy=settings.relay_proxy)


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
        await wait_for_schema(engine)
        if log_engine is not engine:
            await wait_for_schema(log_engine, role="logs")
        await check_key(engine, keybox)
    cache = Cache(keybox)
    routes = CurrentRoutes(cache)
    keeper = Keeper(
        engine, log_engine, cache,
        flush_interval=settings.batch_update_interval_s,
        sync_interval=settings.sync_frequency_s,
        spill_dir=settings.data_dir,
        lease_ttl=settings.lease_ttl_s,
    )
    await keeper.start()
    # Encodings load in the background so the first request that counts tokens does not wait for them.
    asyncio.get_running_loop().run_in_executor(None, tokenizer.warm_up)
    transport = open_transport(settings)
    # Users' image URLs are fetched by a separate client with its own proxy and timeout (One API's
    # USER_CONTENT_REQUEST_*), so they never share the upstream pool or its credentials.
    images = ImageFetcher.from_settings(settings)
    ledger = Ledger(cache, keeper)
    dialogue = Dialogue(transport, images)
    relay = Relay(cache, routes, ledger, dialogue, Adaptors(settings), Policy.from_settings(settings))
    accounts = await open_accounts(settings, engine, cache)
    ledger.on_low_quota = accounts.reminders.notice
    notices = Notices(cache, engine, accounts.mailer)
    guards = relay.guards = open_guards(settings, keeper, accounts.redis, notices.notify)
    keeper.on_flushed = guards.metrics.flushed
    operations = open_operations(settings, keeper, log_engine, relay, transport, guards, notices, accounts)
    relay.catch_up = operations.follower.catch_up
    services = Services(
        settings=settings, engine=engine, log_engine=log_engine, keybox=keybox, cache=cache, routes=routes,
        keeper=keeper, ledger=ledger, transport=transport, relay=relay,
        auth=Authenticator(cache, keeper, AdminKey(settings.admin_key)),
        started_at=int(time.time()), accounts=accounts, guards=guards, notices=notices, operations=operations,
    )
    await operations.start()
    return services


def open_operations(settings: Settings, keeper: Keeper, log_engine: Engine, relay: Relay, transport: Transport,
                    guards: Guards, notices: Notices, accounts: AccountServices) -> Operations:
    """The background jobs, each given only what it uses; the change follower also carries session changes."""
    follower = ChangeFollower(keeper, accounts.redis)
    follower.sessions = accounts.sessions
    accounts.sessions.announce = follower.announce
    return Operations(
        settings, keeper.engine, log_engine, follower=follower,
        tester=ChannelTester(settings, keeper, relay, guards.health, notices),
        balances=BalanceUpdater(settings, keeper, transport, notices),
    )


async def stop(services: Services, grace: float = 10.0) -> None:
    """Write everything still queued, then close connections, all within about `grace` seconds.

    Whatever the database does not take in that time stays in the keeper's journal for the next start.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace / 3):
            await services.operations.stop(patience=grace / 4)
            await close_guards(services.guards)
    await services.keeper.close(grace=max(1.0, deadline - loop.time()))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(1.0, deadline - loop.time())):
            await close_accounts(services.accounts)
            await services.relay.dialogue.aclose()
            if services.log_engine is not services.engine:
                await services.log_engine.dispose()
            await services.engine.dispose()
