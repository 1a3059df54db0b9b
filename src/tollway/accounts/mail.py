"""Sending mail through One API's SMTP options (SMTPServer, SMTPPort, SMTPAccount, SMTPToken, SMTPFrom)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from tollway.errors import TollwayError
from tollway.options import Options

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 15.0
IMPLICIT_TLS_PORT = 465


class MailUnavailable(TollwayError):
    """The mail could not be sent (SMTP not configured, refused, or unreachable)."""

    status_code = 200  # One API answers mail failures as success false with HTTP 200


@dataclass(frozen=True)
class SmtpConfig:
    """Where and as whom to send, read from the options at the moment of sending."""

    server: str
    port: int
    account: str
    token: str
    sender: str
    system_name: str

    @classmethod
    def of(cls, options: Options) -> SmtpConfig:
        account = options.text("SMTPAccount").strip()
        return cls(server=options.text("SMTPServer").strip(), port=options.whole("SMTPPort"), account=account,
                   token=options.text("SMTPToken"), sender=options.text("SMTPFrom").strip() or account,
                   system_name=options.text("SystemName"))


def _deliver(config: SmtpConfig, to: str, subject: str, html: str) -> None:
    """Send one message (blocking): implicit TLS on 465, STARTTLS whenever the server offers it, login if configured."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((config.system_name, config.sender))
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=config.sender.partition("@")[2] or None)
    message.set_content("This message is in HTML; please use a mail reader that shows HTML.")
    message.add_alternative(html, subtype="html")
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if config.port == IMPLICIT_TLS_PORT:
        client = smtplib.SMTP_SSL(config.server, config.port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(config.server, config.port, timeout=SMTP_TIMEOUT_S)
    with client:
        client.ehlo()
        if config.port != IMPLICIT_TLS_PORT and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if config.account:
            client.login(config.account, config.token)
        client.send_message(message, from_addr=config.sender, to_addrs=[to])


class Mailer:
    """Sends mail in worker threads; `post` queues a message in the background and never raises."""

    def __init__(self, options: Callable[[], Options]) -> None:
        self.options = options
        self._tasks: set[asyncio.Task[None]] = set()

    def configured(self) -> bool:
        config = SmtpConfig.of(self.options())
        return bool(config.server and config.sender)

    async def send(self, to: str, subject: str, html: str, *, timeout: float = 2 * SMTP_TIMEOUT_S) -> None:
        """Send now and wait (at most `timeout` seconds), or raise MailUnavailable saying why."""
        config = SmtpConfig.of(self.options())
        if not config.server or not config.sender:
            raise MailUnavailable("the administrator has not configured SMTP (SMTPServer and SMTPFrom or SMTPAccount)")
        try:
            await asyncio.wait_for(asyncio.to_thread(_deliver, config, to, subject, html), timeout)
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            log.warning("sending mail to %s through %s:%s failed: %r", to, config.server, config.port, exc)
            raise MailUnavailable(f"the mail could not be sent: {_reason(exc)}") from exc

    def post(self, to: str, subject: str, html: str) -> None:
        """Send in the background; failures are logged."""
        task = asyncio.get_running_loop().create_task(self._send_logged(to, subject, html))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_logged(self, to: str, subject: str, html: str) -> None:
        try:
            await self.send(to, subject, html)
        except MailUnavailable as exc:
            log.warning("mail to %s not sent: %s", to, exc.message)

    async def drain(self) -> None:
        """Wait for mail still being sent (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=SMTP_TIMEOUT_S)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the SMTP server did not answer in time"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the SMTP server refused SMTPAccount / SMTPToken"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the SMTP server refused the recipient address"
    if isinstance(exc, smtplib.SMTPException):
        return f"the SMTP server refused the message ({type(exc).__name__})"
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return f"the SMTP server could not be reached ({detail})"
