"""Turnstile before sign-up, email codes and reset mails, verified against a configurable siteverify endpoint."""

from __future__ import annotations

import httpx

from tests.accounts.conftest import configure
from tests.admin.support import PASSWORD, data, refused
from tests.harness import Gateway
from tests.upstreams.identity import GOOD_TURNSTILE, TURNSTILE_SECRET, IdentityFake
from tests.upstreams.smtp import SmtpSink


def test_turnstile_guards_sign_up(site: Gateway, identity: IdentityFake, smtp: SmtpSink) -> None:
    configure(site, TurnstileCheckEnabled=True)
    body = {"username": "tina", "password": PASSWORD}
    with httpx.Client(base_url=site.url) as client:
        refused(client.post("/api/user/register", json=body), 200, "Turnstile")
        refused(client.post("/api/user/register", params={"turnstile": "forged"}, json=body), 200, "failed")
        refused(client.get("/api/verification", params={"email": "t@example.com"}), 200, "Turnstile")
        refused(client.get("/api/reset_password", params={"email": "t@example.com"}), 200, "Turnstile")
        data(client.post("/api/user/register", params={"turnstile": GOOD_TURNSTILE}, json=body))
        # Passed once, the browser session is trusted for the rest of the sign-up, as in One API.
        data(client.get("/api/verification", params={"email": "t@example.com"}))
    checks = identity.turnstile_requests
    assert [c["response"] for c in checks] == ["forged", GOOD_TURNSTILE]
    assert all(c["secret"] == TURNSTILE_SECRET and c["remoteip"] == "127.0.0.1" for c in checks)
    with httpx.Client(base_url=site.url) as other:
        refused(other.post("/api/user/register", json={**body, "username": "tom"}), 200, "Turnstile")
    configure(site, TurnstileCheckEnabled=False)
    with httpx.Client(base_url=site.url) as client:
        data(client.post("/api/user/register", json={**body, "username": "tom"}))


def test_wrong_secret_refuses(site: Gateway) -> None:
    """A secret the verifier does not accept fails the check, whatever token the browser sends."""
    configure(site, TurnstileCheckEnabled=True, TurnstileSecretKey="other-secret")
    with httpx.Client(base_url=site.url) as client:
        refused(client.post("/api/user/register", params={"turnstile": GOOD_TURNSTILE},
                            json={"username": "uma", "password": PASSWORD}), 200, "failed")
