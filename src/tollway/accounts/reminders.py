"""Low-quota reminder mails (One API's QuotaRemindThreshold): one mail each time a user's quota crosses down.

The ledger calls `notice` inside a settlement when the quota falls below the threshold or reaches zero; it only
hands the mail to the mailer's background task, so settlement never waits for SMTP.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from tollway.accounts.mail import Mailer
from tollway.options import Options
from tollway.storage.cache import UserEntry

log = logging.getLogger(__name__)


class Reminders:
    """Queues the reminder mail for a user whose quota just crossed the threshold."""

    def __init__(self, mailer: Mailer, options: Callable[[], Options]) -> None:
        self.mailer = mailer
        self.options = options

    def notice(self, user: UserEntry, remaining: int) -> None:
        if not user.email or not self.mailer.configured():
            return
        options = self.options()
        exhausted = remaining <= 0
        state = "has run out" if exhausted else "is running low"
        system = html.escape(options.text("SystemName"))
        link = f"{str(options['ServerAddress']).rstrip('/')}/topup"
        body = (f"<p>Hello {html.escape(user.username)},</p>"
                f"<p>your {system} quota {state}: <strong>{max(remaining, 0)}</strong> remaining.</p>"
                f"<p>To keep your service running, please top up: <a href='{html.escape(link)}'>"
                f"{html.escape(link)}</a></p>")
        self.mailer.post(user.email, f"{options['SystemName']} quota reminder: your quota {state}", body)
