"""Sign-up by password, email verification codes over real SMTP, invitation gifts, and the default token."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx

from tests.accounts.conftest import configure
from tests.admin.support import PASSWORD, data, dicts, refused, rows
from tests.harness import Gateway, settings_for
from tests.upstreams.smtp import SmtpServer, SmtpSink, code_in
from tollway.constants import LogType


def register(gateway: Gateway, **body: object) -> httpx.Response:
    with httpx.Client(base_url=gateway.url) as client:
        return client.post("/api/user/register", json={"username": "newbie", "password": PASSWORD, **body})


def test_register_and_sign_in(site: Gateway) -> None:
    """A registered user can sign in, has display name = username, role 1, the default token, and no email."""
    data(register(site))
    with closing(site.sign_in("newbie", PASSWORD)) as client:
        me = data(client.get("/api/user/self"))
        assert (me["username"], me["display_name"], me["role"], me["status"], me["email"]) == (
            "newbie", "newbie", 1, 1, "")
        [token] = data(client.get("/api/token/"))
        assert token["name"] == "default" and token["unlimited_quota"] is True and token["expired_time"] == -1
    # The default token works on the relay at once.
    answer = httpx.get(site.url + "/v1/models", headers={"Authorization": f"Bearer sk-{token['key']}"})
    assert answer.status_code == 200


def test_register_refusals(site: Gateway) -> None:
    """Taken or malformed names, bad passwords and bad JSON are refused; switches close registration."""
    data(register(site))
    before = rows(site, "SELECT id FROM users")
    refused(register(site), 200, "taken")
    refused(register(site, username="has space"), 200, "username")
    refused(register(site, username="deleted_x"), 200, "deleted_")
    refused(register(site, password="short"), 200, "password")
    refused(register(site, username=5), 200, "username")
    with httpx.Client(base_url=site.url) as client:
        refused(client.post("/api/user/register", content=b"{nope"), 200, "JSON")
    configure(site, PasswordRegisterEnabled=False)
    refused(register(site, username="other"), 200, "password")
    configure(site, PasswordRegisterEnabled=True, RegisterEnabled=False)
    refused(register(site, username="other"), 200, "closed")
    assert rows(site, "SELECT id FROM users") == before
    assert data(site.admin.get("/api/status"))["register_enabled"] is False


def test_email_verification_over_smtp(site: Gateway, smtp: SmtpSink) -> None:
    """With EmailVerificationEnabled the code mailed through SMTP registers the user with that address, once."""
    configure(site, EmailVerificationEnabled=True)
    refused(register(site), 200, "verification_code")
    with httpx.Client(base_url=site.url) as client:
        data(client.get("/api/verification", params={"email": "new@example.com"}))
    [mail] = smtp.wait(1)
    assert mail.recipients == ["new@example.com"] and "verification" in mail.subject.lower()
    assert mail.sender == "noreply@tollway.test"
    code = code_in(mail.html)
    assert len(code) == 6
    refused(register(site, email="new@example.com", verification_code="000000"), 200, "wrong")
    refused(register(site, email="other@example.com", verification_code=code), 200, "wrong")
    data(register(site, email="new@example.com", verification_code=code.upper()))
    assert dicts(site, "SELECT email FROM users WHERE username = 'newbie'") == [{"email": "new@example.com"}]
    # Single use; and now the address is taken.
    refused(register(site, username="second", email="new@example.com", verification_code=code), 200)
    with httpx.Client(base_url=site.url) as client:
        refused(client.get("/api/verification", params={"email": "NEW@example.com"}), 200, "taken")
        refused(client.get("/api/verification", params={"email": "not-an-address"}), 200, "email")


def test_wrong_guesses_burn_the_code(site: Gateway, smtp: SmtpSink) -> None:
    """Five wrong codes invalidate the real one, so a 6-character code cannot be guessed."""
    configure(site, EmailVerificationEnabled=True)
    with httpx.Client(base_url=site.url) as client:
        data(client.get("/api/verification", params={"email": "guess@example.com"}))
    code = code_in(smtp.wait(1)[0].html)
    for attempt in range(5):
        refused(register(site, email="guess@example.com", verification_code=f"zz{attempt}"), 200, "wrong")
    refused(register(site, email="guess@example.com", verification_code=code), 200, "wrong")


def test_expired_code_is_refused(site: Gateway, smtp: SmtpSink) -> None:
    configure(site, EmailVerificationEnabled=True)
    with httpx.Client(base_url=site.url) as client:
        data(client.get("/api/verification", params={"email": "late@example.com"}))
    code = code_in(smtp.wait(1)[0].html)
    # The code is stored in the database as a digest only.
    [stored] = dicts(site, "SELECT * FROM tollway_codes")
    assert code not in str(stored) and stored["subject"] == "late@example.com"
    with closing(sqlite3.connect(site.settings.sqlite_path)) as conn, conn:
        conn.execute("UPDATE tollway_codes SET expires_at = expires_at - 601")
    refused(register(site, email="late@example.com", verification_code=code), 200, "expired")


def test_domain_whitelist(site: Gateway, smtp: SmtpSink) -> None:
    configure(site, EmailVerificationEnabled=True, EmailDomainWhitelist="corp.example,gmail.com",
              EmailDomainRestrictionEnabled=True)
    with httpx.Client(base_url=site.url) as client:
        refused(client.get("/api/verification", params={"email": "x@elsewhere.example"}), 200, "domain")
        data(client.get("/api/verification", params={"email": "x@corp.example"}))
    assert [m.recipients for m in smtp.wait(1)] == [["x@corp.example"]]


def test_mail_failure_is_reported(site: Gateway) -> None:
    """An unreachable SMTP server gives a clear error, and no SMTP at all says it is not configured."""
    configure(site, EmailVerificationEnabled=True, SMTPPort=1)
    with httpx.Client(base_url=site.url) as client:
        refused(client.get("/api/verification", params={"email": "a@example.com"}), 200, "could not")
        configure(site, SMTPServer="")
        refused(client.get("/api/verification", params={"email": "a@example.com"}), 200, "SMTP")


def test_code_sent_by_one_node_works_on_another(tmp_path: Path, smtp_server: SmtpServer, smtp: SmtpSink) -> None:
    """Two gateways on one database: the code requested on the first registers on the second."""
    first = Gateway(settings_for(tmp_path, CRITICAL_RATE_LIMIT=0))
    second = Gateway(settings_for(tmp_path, CRITICAL_RATE_LIMIT=0))
    try:
        configure(first, SMTPServer="127.0.0.1", SMTPPort=smtp_server.port, SMTPFrom="n@t.test",
                  EmailVerificationEnabled=True)
        second.server.run(second.services.keeper.reload())
        with httpx.Client(base_url=first.url) as client:
            data(client.get("/api/verification", params={"email": "two@example.com"}))
        code = code_in(smtp.wait(1)[0].html)
        data(register(second, email="two@example.com", verification_code=code))
        refused(register(first, username="again", email="two@example.com", verification_code=code), 200)
    finally:
        second.close()
        first.close()


def test_invitation_gifts(site: Gateway) -> None:
    """QuotaForNewUser, QuotaForInvitee and QuotaForInviter are paid and logged as system logs."""
    configure(site, QuotaForNewUser=100, QuotaForInvitee=20, QuotaForInviter=7)
    data(register(site, username="host"))
    with closing(site.sign_in("host", PASSWORD)) as host:
        aff = data(host.get("/api/user/aff"))
        data(register(site, username="guest", aff_code=aff))
        data(register(site, username="stranger", aff_code="nope"))  # an unknown code is ignored
        assert data(host.get("/api/user/self"))["quota"] == 107
    quotas = dict(rows(site, "SELECT username, quota FROM users WHERE username IN ('host', 'guest', 'stranger')"))
    assert quotas == {"host": 107, "guest": 120, "stranger": 100}
    inviters = dict(rows(site, "SELECT username, inviter_id FROM users WHERE username IN ('guest', 'stranger')"))
    [(host_id,)] = rows(site, "SELECT id FROM users WHERE username = 'host'")
    assert inviters == {"guest": host_id, "stranger": 0}
    site.flush()
    logged = rows(site, "SELECT username, quota FROM logs WHERE type = ? ORDER BY id", LogType.SYSTEM)
    contents = [c for (c,) in rows(site, "SELECT content FROM logs WHERE type = ? ORDER BY id", LogType.SYSTEM)]
    assert [u for u, _ in logged] == ["host", "guest", "guest", "host", "stranger"]
    assert "100" in contents[0] and "20" in contents[2] and "7" in contents[3] and "guest" in contents[3]


def test_codes_in_redis_work_across_nodes(tmp_path: Path, smtp_server: SmtpServer, smtp: SmtpSink,
                                          redis_url: str) -> None:
    """With REDIS_CONN_STRING the codes live in Redis (not the database) and every node sees them."""
    first = Gateway(settings_for(tmp_path / "a", CRITICAL_RATE_LIMIT=0, REDIS_CONN_STRING=redis_url))
    second = Gateway(settings_for(tmp_path / "b", CRITICAL_RATE_LIMIT=0, REDIS_CONN_STRING=redis_url))
    address = f"r{secrets.token_hex(4)}@example.com"
    try:
        for node in (first, second):
            configure(node, SMTPServer="127.0.0.1", SMTPPort=smtp_server.port, SMTPFrom="n@t.test",
                      EmailVerificationEnabled=True)
        with httpx.Client(base_url=first.url) as client:
            data(client.get("/api/verification", params={"email": address}))
        code = code_in(smtp.wait(1)[0].html)
        assert rows(first, "SELECT * FROM tollway_codes") == []
        data(register(second, email=address, verification_code=code))
        refused(register(first, username="again", email=address, verification_code=code), 200)
    finally:
        second.close()
        first.close()
