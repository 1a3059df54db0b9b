"""Sign-in and binding through GitHub, OIDC, Lark and WeChat, against local fake providers, redirects and all."""

from __future__ import annotations

from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.accounts.conftest import configure
from tests.admin.support import PASSWORD, data, dicts, refused
from tests.harness import Gateway
from tests.upstreams.identity import CLIENT_SECRET, WECHAT_TOKEN, IdentityFake

PROFILES = {
    "github": {"login": "octocat", "name": "The Octocat", "email": "octo@github.example"},
    "oidc": {"sub": "subject-42", "preferred_username": "ada", "name": "Ada L.", "email": "ada@idp.example",
             "email_verified": True},
    "lark": {"open_id": "ou_123", "name": "Lark Person"},
}
COLUMNS = {"github": ("github_id", "octocat"), "oidc": ("oidc_id", "subject-42"), "lark": ("lark_id", "ou_123")}


def browse(site: Gateway, fake: IdentityFake, client: httpx.Client, provider: str, **user: object) -> httpx.Response:
    """What a browser and One API's front-end do: get a state, visit the provider, come back, hand over the code."""
    fake.sign_in_as(provider, **(user or PROFILES[provider]))
    state = data(client.get("/api/oauth/state"))
    page = httpx.get(fake.authorize_url(provider, f"{site.url}/oauth/{provider}", state))
    assert page.status_code == 302, page.text
    back = urlsplit(page.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{site.url}/oauth/{provider}"
    query = {key: values[0] for key, values in parse_qs(back.query).items()}
    assert query["state"] == state
    return client.get(f"/api/oauth/{provider}", params=query)


@pytest.mark.parametrize("provider", ["github", "oidc", "lark"])
def test_sign_up_then_sign_in(site: Gateway, identity: IdentityFake, provider: str) -> None:
    """The first visit registers a user bound to the provider id (with the default token); the next signs in."""
    with httpx.Client(base_url=site.url) as browser:
        first = data(browse(site, identity, browser, provider))
        assert "session" in browser.cookies
        me = data(browser.get("/api/user/self"))
    column, subject = COLUMNS[provider]
    assert me["id"] == first["id"] and me[column] == subject and me["role"] == 1
    expected_name = {"github": "github_2", "oidc": "ada", "lark": "lark_2"}[provider]
    assert me["username"] == expected_name and me["display_name"] == PROFILES[provider]["name"]
    assert me["email"] == PROFILES[provider].get("email", "")
    with httpx.Client(base_url=site.url) as browser:
        again = data(browse(site, identity, browser, provider))
        assert again["id"] == first["id"]
        assert len(data(browser.get("/api/token/"))) == 1
    # The client secret went to the provider's token endpoint only.
    assert all(request["client_secret"] == CLIENT_SECRET for request in identity.token_requests)
    if provider != "github":
        assert {r["redirect_uri"] for r in identity.token_requests} == {f"{site.url}/oauth/{provider}"}


def test_state_is_checked(site: Gateway, identity: IdentityFake) -> None:
    """A missing, unknown, reused or other browser's state is refused and signs nobody in."""
    identity.sign_in_as("github", **PROFILES["github"])
    with httpx.Client(base_url=site.url) as victim, httpx.Client(base_url=site.url) as attacker:
        state = data(attacker.get("/api/oauth/state"))
        page = httpx.get(identity.authorize_url("github", f"{site.url}/oauth/github", state))
        query = {k: v[0] for k, v in parse_qs(urlsplit(page.headers["location"]).query).items()}
        # The attacker's code and state, forced on the victim's browser, are refused (login CSRF).
        refused(victim.get("/api/oauth/github", params=query), 200, "state")
        refused(victim.get("/api/oauth/github", params={"code": query["code"]}), 200, "state")
        refused(victim.get("/api/oauth/github", params={**query, "state": "made-up"}), 200, "state")
        data(attacker.get("/api/oauth/github", params=query))
        refused(attacker.get("/api/oauth/github", params=query), 200, "state")  # single use
    assert len(dicts(site, "SELECT id FROM users WHERE github_id = 'octocat'")) == 1


def test_bind_when_signed_in(site: Gateway, identity: IdentityFake) -> None:
    """A signed-in user binds a provider account ("bind"); an account bound elsewhere is refused."""
    user_id, client = site.create_user("frank", password=PASSWORD)
    with closing(client):
        answer = browse(site, identity, client, "github").json()
        assert answer == {"success": True, "message": "bind", "data": None}
        assert data(client.get("/api/user/self"))["github_id"] == "octocat"
        refused(browse(site, identity, client, "github"), 200, "already bound")
    _, other = site.create_user("grace", password=PASSWORD)
    with closing(other):
        refused(browse(site, identity, other, "github"), 200, "another user")
    with httpx.Client(base_url=site.url) as browser:  # signing in with GitHub now opens frank's account
        assert data(browse(site, identity, browser, "github"))["id"] == user_id


def test_registration_switch_and_disabled_users(site: Gateway, identity: IdentityFake) -> None:
    """With RegisterEnabled off nobody new gets in, but bound users still sign in; disabled users never do."""
    with httpx.Client(base_url=site.url) as browser:
        data(browse(site, identity, browser, "oidc"))
    configure(site, RegisterEnabled=False)
    with httpx.Client(base_url=site.url) as browser:
        refused(browse(site, identity, browser, "github"), 200, "registration")
        data(browse(site, identity, browser, "oidc"))
    data(site.admin.post("/api/user/manage", json={"username": "ada", "action": "disable"}))
    with httpx.Client(base_url=site.url) as browser:
        refused(browse(site, identity, browser, "oidc"), 200, "disabled")
    configure(site, GitHubOAuthEnabled=False, RegisterEnabled=True)
    with httpx.Client(base_url=site.url) as browser:
        refused(browse(site, identity, browser, "github"), 200, "GitHub")
    assert dicts(site, "SELECT id FROM users WHERE github_id = 'octocat'") == []


def test_provider_failures_are_clear(site: Gateway, identity: IdentityFake) -> None:
    """A bad code, a wrong client secret or an unreachable provider give a clear refusal and no account."""
    with httpx.Client(base_url=site.url) as browser:
        state = data(browser.get("/api/oauth/state"))
        refused(browser.get("/api/oauth/github", params={"code": "bogus", "state": state}), 200, "GitHub")
        configure(site, OidcClientSecret="wrong-secret")
        refused(browse(site, identity, browser, "oidc"), 200, "refused")
        configure(site, OidcWellKnown="http://127.0.0.1:1/.well-known/openid-configuration")
        state = data(browser.get("/api/oauth/state"))
        refused(browser.get("/api/oauth/oidc", params={"code": "x", "state": state}), 200, "could not reach")
    assert dicts(site, "SELECT id FROM users WHERE id > 1") == []


def test_oidc_without_discovery_and_unverified_email(site: Gateway, identity: IdentityFake) -> None:
    """Explicit endpoint options work without OidcWellKnown; an unverified email is not copied."""
    configure(site, OidcWellKnown="", OidcTokenEndpoint=f"{identity.url}/oidc/token",
              OidcUserinfoEndpoint=f"{identity.url}/oidc-user/userinfo")
    with httpx.Client(base_url=site.url) as browser:
        data(browse(site, identity, browser, "oidc", sub="s-9", preferred_username="not a valid name",
                    email="boss@corp.example", email_verified=False))
        me = data(browser.get("/api/user/self"))
    assert (me["oidc_id"], me["username"], me["email"]) == ("s-9", "oidc_2", "")


def test_wechat_sign_in_and_bind(site: Gateway, identity: IdentityFake) -> None:
    """The WeChat Server turns a typed code into an id: sign-up, sign-in, bind, wrong code."""
    identity.wechat_codes["123456"] = "wx-one"
    with httpx.Client(base_url=site.url) as browser:
        made = data(browser.get("/api/oauth/wechat", params={"code": "123456"}))
        assert made["username"] == "wechat_2" and made["display_name"] == "WeChat User"
        refused(browser.get("/api/oauth/wechat", params={"code": "123456"}), 200, "wrong")
        refused(browser.get("/api/oauth/wechat"), 200, "missing")
    _, client = site.create_user("heidi", password=PASSWORD)
    with closing(client):
        identity.wechat_codes["777777"] = "wx-two"
        assert client.get("/api/oauth/wechat/bind", params={"code": "777777"}).json()["success"] is True
        assert data(client.get("/api/user/self"))["wechat_id"] == "wx-two"
        identity.wechat_codes["888888"] = "wx-one"
        refused(client.get("/api/oauth/wechat/bind", params={"code": "888888"}), 200, "another user")
    with httpx.Client(base_url=site.url) as anonymous:
        refused(anonymous.get("/api/oauth/wechat/bind", params={"code": "1"}), 401)


def test_provider_secrets_never_leave(site: Gateway, identity: IdentityFake) -> None:
    """No route answers a client secret, the WeChat Server token, the Turnstile or SMTP secret."""
    from tests.upstreams.identity import TURNSTILE_SECRET

    data(site.admin.put("/api/option/", json={"key": "SMTPToken", "value": "smtp-password-never-shown"}))
    answers = [site.admin.get(path).text for path in ("/api/option/", "/api/status", "/api/user/self")]
    for secret in (CLIENT_SECRET, WECHAT_TOKEN, TURNSTILE_SECRET, "smtp-password-never-shown"):
        assert all(secret not in answer for answer in answers), secret
