"""Telling the operator what the gateway did on its own (a channel disabled or enabled again).

As in One API: through Message Pusher when `MessagePusherAddress` is set, else by mail to root's address.
Sent in the background: a notice must never hold up the work that caused it.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import TYPE_CHECKING

import httpx2
from sqlalchemy import select

from tollway.storage import schema

if TYPE_CHECKING:
    from tollway.services import Services

log = logging.getLogger(__name__)

ROLE_ROOT = 100
_TIMEOUT_S = 10.0
_pending: set[asyncio.Task[None]] = set()


async def _root_email(services: Services) -> str:
    users = schema.users
    async with services.engine.connect() as conn:
        found = await conn.execute(select(users.c.email).where(users.c.role >= ROLE_ROOT).order_by(users.c.id)
                                   .limit(1))
        return str(found.scalar() or "")


async def deliver(services: Services, title: str, content: str) -> None:
    """Send one notice now: Message Pusher, or mail to root; failures are logged, never raised."""
    options = services.cache.options
    address = str(options["MessagePusherAddress"] or "").strip()
    try:
        if address:
            body = {"title": title, "description": title, "content": content,
                    "token": str(options["MessagePusherToken"] or "")}
            async with httpx2.AsyncClient(timeout=_TIMEOUT_S) as client:
                answer = await client.post(address, json=body)
            if answer.status_code >= 400:
                log.warning("Message Pusher refused the notice %r: status %s", title, answer.status_code)
            return
        email = await _root_email(services)
        if not email:
            log.info("notice not sent (no Message Pusher and root has no email): %s — %s", title, content)
            return
        await services.accounts.mailer.send(email, title, f"<p>{html.escape(content)}</p>")
    except Exception as exc:  # a notice is best effort; the event itself is in the process log already
        log.warning("could not send the notice %r: %s", title, exc)


def notify(services: Services, title: str, content: str) -> None:
    """Send a notice in the background."""
    task = asyncio.get_running_loop().create_task(deliver(services, title, content))
    _pending.add(task)  # keep a reference until it is done, or the loop may drop it
    task.add_done_callback(_pending.discard)
