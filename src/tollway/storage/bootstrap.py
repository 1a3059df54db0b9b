"""First start: the root account, One API's initial root token and access token, sealing plain keys; root's address."""

from __future__ import annotations

import logging
import sys
import time

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.accounts import keys
from tollway.accounts.passwords import hash_password
from tollway.constants import Role
from tollway.crypto import KeyBox
from tollway.settings import Settings
from tollway.storage import schema
from tollway.storage.channel_secrets import merged_config, needs_sealing

log = logging.getLogger(__name__)

ROOT_QUOTA = 500_000_000_000_000  # One API's starting quota for root


async def bootstrap(engine: AsyncEngine, keybox: KeyBox, settings: Settings) -> None:
    """Create the root user on an empty database and seal any upstream key still stored in plain text."""
    async with engine.begin() as conn:
        password = await first_start(conn, keybox, settings)
    announce(password)


async def first_start(conn: AsyncConnection, keybox: KeyBox, settings: Settings) -> str | None:
    """`bootstrap` inside the caller's transaction; answers root's random password, to be shown once it is committed."""
    shown = None
    users = (await conn.execute(select(func.count()).select_from(schema.users))).scalar_one()
    if users == 0:
        password = settings.initial_root_password or keys.password()
        result = await conn.execute(insert(schema.users).values(
            username="root", password=hash_password(password), display_name="Root User", role=Role.ROOT,
            status=1, quota=ROOT_QUOTA, group="default",
            access_token=settings.initial_root_access_token or None,
        ))
        root_id = result.inserted_primary_key[0] if result.inserted_primary_key else 1
        if settings.initial_root_token:
            now = int(time.time())
            await conn.execute(insert(schema.tokens).values(
                user_id=root_id, key=settings.initial_root_token.removeprefix("sk-"),
                name="Initial Root Token", status=1, created_time=now, accessed_time=now, expired_time=-1,
                remain_quota=0, unlimited_quota=True, used_quota=0,
            ))
        if settings.initial_root_password:
            log.warning("created user root with the password from INITIAL_ROOT_PASSWORD")
        else:
            shown = password
    rows = (await conn.execute(select(schema.channels.c.id, schema.channels.c.key, schema.channels.c.config))).all()
    for channel_id, key, config in rows:
        changes = {}
        if key and not KeyBox.is_sealed(key):
            changes["key"] = keybox.seal(key)
        if needs_sealing(config):
            changes["config"] = merged_config(config, None, keybox)
        if changes:
            await conn.execute(update(schema.channels).where(schema.channels.c.id == channel_id).values(**changes))
    return shown


def announce(password: str | None) -> None:
    """Print root's random password, on first start only: there is no default password."""
    if password is not None:
        print(f"\n  Tollway created the root account.\n  username: root\n  password: {password}\n"
              "  Sign in and change it; this password is not shown again.\n", file=sys.stderr, flush=True)


async def root_email(engine: AsyncEngine) -> str:
    """The email address of the first root user ("" when it has none), where notices go without Message Pusher."""
    users = schema.users
    async with engine.connect() as conn:
        found = await conn.execute(select(users.c.email).where(users.c.role >= Role.ROOT).order_by(users.c.id)
                                   .limit(1))
        return str(found.scalar() or "")
