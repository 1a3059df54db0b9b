"""Password reset by an emailed link, and binding an email address to one's account with a code."""

from __future__ import annotations

from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.accounts.conftest import configure
from tests.admin.support import PASSWORD, data, dicts, refused
from tests.harness import Gateway
from tests.upstreams.smtp import SmtpSink, code_in, link_in


def reset_link(site: Gateway, smtp: SmtpSink, email: str) -> dict[str, str]:
    with httpx.Client(base_url=site.url) as client:
        data(client.get("/api/reset_password", params={"email": email}))
    [mail] = smtp.wait(1)
    assert [r.lower() for r in mail.recipients] == [email.lower()]
    link = link_in(mail.html)
    assert link.startswith(f"{site.url}/user/reset?")
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def test_reset_by_emailed_link(site: Gateway, smtp: SmtpSink) -> None:
    """The link's token sets a new random password (answered once), ends every session, and cannot be reused."""
    user_id, session = site.create_user("carol", password=PASSWORD)
    data(site.admin.put("/api/user/", json={"id": user_id, "email": "Carol@Example.com"}))
    query = reset_link(site, smtp, "carol@example.com")
    assert query["email"] == "Carol@Example.com" and len(query["token"]) == 32
    with httpx.Client(base_url=site.url) as client:
        refused(client.post("/api/user/reset", json={"email": query["email"], "token": "0" * 32}), 200, "invalid")
        new_password = data(client.post("/api/user/reset", json=query))
        assert isinstance(new_password, str) and len(new_password) >= 12
        refused(client.post("/api/user/reset", json=query), 200, "invalid")
        refused(client.post("/api/user/reset", json={"email": "x"}), 200, "required")
    refused(session.get("/api/user/self"), 401)  # the reset ended the old session
    session.close()
    with closing(site.sign_in("carol", new_password)) as client:
        assert data(client.get("/api/user/self"))["id"] == user_id
    with httpx.Client(base_url=site.url) as client:
        refused(client.post("/api/user/login", json={"username": "carol", "password": PASSWORD}), 200)


def test_reset_of_unknown_address_says_nothing(site: Gateway, smtp: SmtpSink) -> None:
    """An unregistered address gets the same answer and no mail, so the route does not reveal who is registered."""
    with httpx.Client(base_url=site.url) as client:
        assert client.get("/api/reset_password", params={"email": "nobody@example.com"}).json() == {
            "success": True, "message": "", "data": None}
        refused(client.get("/api/reset_password", params={"email": "bad"}), 200, "email")
    site.create_user("dave", password=PASSWORD)
    data(site.admin.put("/api/user/", json={"id": 2, "email": "dave@example.com"}))
    reset_link(site, smtp, "dave@example.com")
    assert len(smtp.messages) == 1


def test_bind_email_with_code(site: Gateway, smtp: SmtpSink) -> None:
    """A signed-in user proves an address with a code and binds it; even with registration closed."""
    configure(site, RegisterEnabled=False)
    user_id, client = site.create_user("erin", password=PASSWORD)
    with closing(client):
        with httpx.Client(base_url=site.url) as anonymous:
            refused(anonymous.get("/api/verification", params={"email": "erin@example.com"}), 200, "closed")
        data(client.get("/api/verification", params={"email": "erin@example.com"}))
        code = code_in(smtp.wait(1)[0].html)
        refused(client.get("/api/oauth/email/bind", params={"email": "erin@example.com", "code": "nope00"}), 200)
        data(client.get("/api/oauth/email/bind", params={"email": "erin@example.com", "code": code}))
        assert data(client.get("/api/user/self"))["email"] == "erin@example.com"
        refused(client.get("/api/oauth/email/bind", params={"email": "erin@example.com", "code": code}), 200)
    assert dicts(site, "SELECT email FROM users WHERE id = ?", user_id) == [{"email": "erin@example.com"}]
    with httpx.Client(base_url=site.url) as anonymous:
        refused(anonymous.get("/api/oauth/email/bind", params={"email": "erin@example.com", "code": code}), 401)
