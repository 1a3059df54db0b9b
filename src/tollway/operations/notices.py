"""Telling the operator what the gateway did on its own (a channel disabled or enabled again).

As in One API: through Message Pusher when `MessagePusherAddress` is set, else by mail to root's address.
Sent in the background: a notice must never hold up the work that caused it.
"""

from __future__ import annotations

import asyncio
import html
import logging

import httpx2

from tollway.accounts.mail import Mailer
from tollway.storage.bootstrap import root_email
from tollway.storage.cache import Cache
from tollway.storage.database import Engine

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0


class Notices:
    """Sends notices with the options of `cache`, to root's address in `engine`'s users through `mailer`."""

    def __init__(self, cache: Cache, engine: Engine, mailer: Mailer) -> None:
        self.cache = cache
        self.engine = engine
        self.mailer = mailer
        self._pending: set[asyncio.Task[None]] = set()

    async def deliver(self, title: str, content: str) -> None:
        """Send one notice now: Message Pusher, or mail to root; failures are logged, never raised."""
        options = self.cache.options
        address = options.text("MessagePusherAddress").strip()
        try:
            if address:
                body = {"title": title, "description": title, "content": content,
                        "token": options.text("MessagePusherToken")}
                async with httpx2.AsyncClient(timeout=_TIMEOUT_S) as client:
                    answer = await client.post(address, json=body)
                if answer.status_code >= 400:
                    log.warning("Message Pusher refused the notice %r: status %s", title, answer.status_code)
                return
            email = await root_email(self.engine)
            if not email:
                log.info("notice not sent (no Message Pusher and root has no email): %s — %s", title, content)
                return
            await self.mailer.send(email, title, f"<p>{html.escape(content)}</p>")
        except Exception as exc:  # a notice is best effort; the event itself is in the process log already
            log.warning("could not send the notice %r: %s", title, exc)

    def notify(self, title: str, content: str) -> None:
        """Send a notice in the background."""
        task = asyncio.get_running_loop().create_task(self.deliver(title, content))
        self._pending.add(task)  # keep a reference until it is done, or the loop may drop it
        task.add_done_callback(self._pending.discard)
