"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives, optionally requiring AUTH."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        return part.get_content() if part is not None else ""


@dataclass
class SmtpSink:
    """What the server received, shared with the test thread."""

    messages: list[Received] = field(default_factory=list)
    credentials: tuple[str, str] | None = None  # required login, or None for no AUTH
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def reset(self, credentials: tuple[str, str] | None = None) -> None:
        with self._arrived:
            self.messages.clear()
        self.credentials = credentials

    def wait(self, count: int = 1, timeout: float = 20) -> list[Received]:
        """The first `count` messages, waiting for them to arrive (mail may be sent in the background)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} mails, got {len(self.messages)}"
                self._arrived.wait(left)
            return list(self.messages[:count])

    def to(self, address: str) -> list[Received]:
        with self._arrived:
            return [m for m in self.messages if address in m.recipients]

    # -- aiosmtpd handler hooks --------------------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        parsed = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self._arrived:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, login))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == self.credentials
        return AuthResult(success=ok, handled=False, auth_data=data)


class SmtpServer:
    """aiosmtpd on a free port; AUTH is offered without TLS so tests can check the credentials sent."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        with socket.socket() as probe:  # aiosmtpd checks it is up by connecting, so it needs a known port
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port,
                                     authenticator=self.sink.authenticate, auth_require_tls=False, auth_required=False)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def code_in(html: str) -> str:
    """The verification code in a verification mail."""
    found = re.search(r"<strong>([0-9a-f]+)</strong>", html)
    assert found, html
    return found.group(1)


def link_in(html: str) -> str:
    """The reset link in a reset mail."""
    found = re.search(r"href='([^']+)'", html)
    assert found, html
    return found.group(1).replace("&amp;", "&")
