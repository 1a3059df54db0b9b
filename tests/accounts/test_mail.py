"""The SMTP client: login only when SMTPAccount is set, SMTPFrom defaulting to the account, clear failures."""

from __future__ import annotations

import httpx

from tests.accounts.conftest import configure
from tests.admin.support import data, refused
from tests.harness import Gateway
from tests.upstreams.smtp import SmtpServer, SmtpSink


def ask_code(gateway: Gateway, email: str) -> httpx.Response:
    with httpx.Client(base_url=gateway.url) as client:
        return client.get("/api/verification", params={"email": email})


def test_login_when_an_account_is_set(site: Gateway, smtp_server: SmtpServer, smtp: SmtpSink) -> None:
    smtp.reset(credentials=("mailer@tollway.test", "smtp-secret"))
    configure(site, SMTPAccount="mailer@tollway.test", SMTPToken="smtp-secret", SMTPFrom="")
    data(ask_code(site, "a@example.com"))
    [mail] = smtp.wait(1)
    assert mail.login == "mailer@tollway.test" and mail.sender == "mailer@tollway.test"
    assert "mailer@tollway.test" in str(mail.message["From"])
    configure(site, SMTPToken="wrong-secret")
    message = refused(ask_code(site, "b@example.com"), 200, "SMTPAccount")
    assert "wrong-secret" not in message


def test_no_login_without_an_account(site: Gateway, smtp: SmtpSink) -> None:
    data(ask_code(site, "c@example.com"))
    [mail] = smtp.wait(1)
    assert mail.login is None and mail.sender == "noreply@tollway.test"
    assert mail.message.get_content_type() == "multipart/alternative"
