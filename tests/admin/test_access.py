"""Who may call what: every management route for every role, and no reach into another user's objects."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.admin.support import PASSWORD, ROOT_ID, Actor, Cast, data, make_cast, refused, row, snapshot
from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams import balance_mock
from tests.upstreams.identity import WECHAT_TOKEN, IdentityFake
from tests.upstreams.openai_mock import OpenAIMock
from tests.upstreams.smtp import SmtpServer
from tollway.accounts import codes

PUBLIC, USER, ADMIN, ROOT = 0, 1, 10, 100


@dataclass
class World:
    """A gateway with a cast, a common user carol for admins to act on, a channel, and each actor's own token."""

    gateway: Gateway
    cast: Cast
    carol: int
    channel: int
    mock_url: str
    tokens: dict[str, int] = field(default_factory=dict)
    identity: IdentityFake | None = None
    serial: Iterator[int] = field(default_factory=itertools.count)

    def own_token(self, actor: Actor) -> int:
        """The actor's token id (anonymous has none, so it aims at alice's)."""
        return self.tokens.get(actor.name, self.tokens["alice"])


# A path or body: fixed, or built for (world, actor, whether the call should be allowed).
Part = str | dict[str, Any] | None | Callable[[World, Actor, bool], Any]


@dataclass(frozen=True)
class Case:
    method: str
    path: Part
    role: int
    body: Part = None


def fresh_token(w: World, a: Actor, allowed: bool) -> str:
    """An allowed caller deletes a token made for the purpose; a refused one aims at a real token."""
    if not allowed:
        return f"/api/token/{w.own_token(a)}"
    return f"/api/token/{data(a.client.post('/api/token/', json={'name': 'doomed'}))['id']}"


def fresh_user(w: World, a: Actor, allowed: bool) -> str:
    if not allowed:
        return f"/api/user/{w.carol}"
    created = w.gateway.api("POST", "/api/user/", json={"username": f"doomed{next(w.serial)}", "password": PASSWORD})
    return f"/api/user/{created['id']}"


def fresh_channel(w: World, a: Actor, allowed: bool) -> str:
    return f"/api/channel/{w.gateway.add_channel(w.mock_url) if allowed else w.channel}"


CASES = [
    Case("GET", "/api/status", PUBLIC),
    Case("GET", "/api/notice", PUBLIC),
    Case("GET", "/api/about", PUBLIC),
    Case("GET", "/api/home_page_content", PUBLIC),
    Case("GET", "/api/models", USER),
    Case("GET", "/api/user/self", USER),
    Case("PUT", "/api/user/self", USER, {"display_name": "Renamed"}),
    Case("GET", "/api/user/token", USER),
    Case("GET", "/api/user/aff", USER),
    Case("GET", "/api/user/available_models", USER),
    Case("GET", "/api/token/?p=0", USER),
    Case("GET", "/api/token/search?keyword=own", USER),
    Case("GET", lambda w, a, ok: f"/api/token/{w.own_token(a)}", USER),
    Case("POST", "/api/token/", USER, {"name": "matrix", "unlimited_quota": True}),
    Case("PUT", "/api/token/", USER, lambda w, a, ok: {"id": w.own_token(a), "name": "own renamed"}),
    Case("PUT", "/api/token/?status_only=1", USER, lambda w, a, ok: {"id": w.own_token(a), "status": 1}),
    Case("DELETE", fresh_token, USER),
    Case("GET", "/api/log/self?p=0", USER),
    Case("GET", "/api/log/self/stat", USER),
    Case("GET", "/api/log/self/search?keyword=3", USER),
    Case("GET", "/api/group/", ADMIN),
    Case("GET", "/api/user/?p=0&order=quota", ADMIN),
    Case("GET", "/api/user/search?keyword=carol", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/user/{w.carol}", ADMIN),
    Case("POST", "/api/user/", ADMIN, lambda w, a, ok: {"username": f"made{next(w.serial)}", "password": PASSWORD}),
    Case("PUT", "/api/user/", ADMIN, lambda w, a, ok: {"id": w.carol, "quota": 1000 + next(w.serial)}),
    Case("DELETE", fresh_user, ADMIN),
    Case("POST", "/api/user/manage", ADMIN, {"username": "carol", "action": "enable"}),
    Case("POST", "/api/topup", ADMIN, lambda w, a, ok: {"user_id": w.carol, "quota": 10}),
    Case("GET", "/api/channel/?p=0", ADMIN),
    Case("GET", "/api/channel/search?keyword=mock", ADMIN),
    Case("GET", "/api/channel/models", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/channel/{w.channel}", ADMIN),
    Case("POST", "/api/channel/", ADMIN, lambda w, a, ok: {"type": 1, "key": "sk-x", "base_url": w.mock_url}),
    Case("PUT", "/api/channel/", ADMIN, lambda w, a, ok: {"id": w.channel, "priority": 3}),
    Case("DELETE", fresh_channel, ADMIN),
    Case("DELETE", "/api/channel/disabled", ADMIN),
    Case("GET", "/api/log/?p=0&type=3", ADMIN),
    Case("GET", "/api/log/stat?username=alice", ADMIN),
    Case("GET", "/api/log/search?keyword=3", ADMIN),
    Case("DELETE", "/api/log/?target_timestamp=1", ADMIN),
    Case("GET", "/api/option/", ROOT),
    Case("PUT", "/api/option/", ROOT, {"key": "Notice", "value": "from the matrix"}),
    # operations routes
    Case("GET", "/api/user/dashboard", USER),
    Case("POST", "/api/user/topup", USER, lambda w, a, ok: {"key": fresh_code(w)[1]}),
    Case("GET", "/api/log/dashboard", ADMIN),
    Case("GET", "/api/redemption/?p=0", ADMIN),
    Case("GET", "/api/redemption/search?keyword=matrix", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/redemption/{fresh_code(w)[0]}", ADMIN),
    Case("POST", "/api/redemption/", ADMIN, {"name": "matrix", "quota": 10, "count": 2}),
    Case("PUT", "/api/redemption/", ADMIN, lambda w, a, ok: {"id": fresh_code(w)[0], "name": "matrix", "quota": 9}),
    Case("PUT", "/api/redemption/?status_only=1", ADMIN, lambda w, a, ok: {"id": fresh_code(w)[0], "status": 2}),
    Case("DELETE", lambda w, a, ok: f"/api/redemption/{fresh_code(w)[0]}", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/channel/test/{w.channel}?model=gpt-4o-mini", ADMIN),
    Case("GET", "/api/channel/test?scope=disabled", ADMIN),
    Case("GET", "/api/channel/test/status", ADMIN),
    Case("GET", "/api/channel/tests", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/channel/{w.channel}/tests", ADMIN),
    Case("GET", lambda w, a, ok: f"/api/channel/update_balance/{balance_channel(w)}", ADMIN),
    Case("GET", "/api/channel/update_balance", ADMIN),
    # accounts and security routes (the OAuth callbacks and WeChat sign-in replace the caller's session, so
    # tests/accounts/test_oauth.py covers them)
    Case("POST", "/api/user/register", PUBLIC, lambda w, a, ok: {"username": f"reg{next(w.serial)}",
                                                                  "password": PASSWORD}),
    Case("GET", "/api/oauth/state", PUBLIC),
    Case("GET", lambda w, a, ok: f"/api/verification?email=v{next(w.serial)}@example.com", PUBLIC),
    Case("GET", "/api/reset_password?email=carol@example.com", PUBLIC),
    Case("POST", "/api/user/reset", PUBLIC, lambda w, a, ok: {"email": "carol@example.com",
                                                               "token": planted(w, codes.PASSWORD_RESET,
                                                                                "carol@example.com")}),
    Case("GET", lambda w, a, ok: bind_email_path(w), USER),
    Case("GET", lambda w, a, ok: wechat_bind_path(w), USER),
]


def planted(w: World, purpose: str, subject: str) -> str:
    """A valid single-use code, put straight into the gateway's store (as if it had been mailed)."""
    secret = f"code{next(w.serial)}"
    w.gateway.server.run(w.gateway.services.accounts.codes.put(purpose, subject, secret))
    return secret


def bind_email_path(w: World) -> str:
    email = f"bind{next(w.serial)}@example.com"
    return f"/api/oauth/email/bind?email={email}&code={planted(w, codes.EMAIL_VERIFICATION, email)}"


def wechat_bind_path(w: World) -> str:
    code = f"wx{next(w.serial)}"
    assert w.identity is not None
    w.identity.wechat_codes[code] = f"wechat-id-{code}"
    return f"/api/oauth/wechat/bind?code={code}"


def fresh_code(w: World) -> tuple[int, str]:
    """A new redemption code (id, key), made by root."""
    [key] = w.gateway.api("POST", "/api/redemption/", json={"name": "matrix", "quota": 10, "count": 1})
    [code] = w.gateway.api("GET", "/api/redemption/search", params={"keyword": "matrix"})[:1]
    assert code["key"] == key
    return int(code["id"]), key


def balance_channel(w: World) -> int:
    """A SiliconFlow channel whose balance the balance mock answers."""
    _, server = balance_mock.shared()
    return int(w.gateway.api("POST", "/api/channel/", json={
        "type": 44, "name": "matrix balance", "key": "sk-balance", "models": "gpt-4o-mini",
        "config": {"balance_url": server.url}})[0]["id"])


def resolve(part: Part, world: World, actor: Actor, allowed: bool) -> Any:
    return part(world, actor, allowed) if callable(part) else part


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mock_server: tuple[OpenAIMock, ServerThread]) -> Iterator[World]:
    """One gateway shared by the matrix tests (each call makes its own targets where it would consume them)."""
    mock_server[0].reset()  # module-scoped, so the per-test `mock` fixture has not cleared plans left by others
    # Rate limits are off here: every call of the matrix comes from 127.0.0.1 (tests/accounts covers the limits).
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("access"), GLOBAL_API_RATE_LIMIT=0, CRITICAL_RATE_LIMIT=0))
    smtp, identity = SmtpServer().start(), IdentityFake()
    identity_server = ServerThread(identity.app(), lifespan="off").start()
    for key, value in {"SMTPServer": "127.0.0.1", "SMTPPort": smtp.port, "SMTPFrom": "matrix@tollway.test",
                       "WeChatServerAddress": f"{identity_server.url}/wechat", "WeChatServerToken": WECHAT_TOKEN,
                       "WeChatAuthEnabled": True}.items():
        gateway.api("PUT", "/api/option/", json={"key": key, "value": value})
    cast = make_cast(gateway)
    carol = int(gateway.api("POST", "/api/user/", json={"username": "carol", "password": PASSWORD})["id"])
    gateway.api("PUT", "/api/user/", json={"id": carol, "email": "carol@example.com"})
    made = World(gateway, cast, carol, gateway.add_channel(mock_server[1].url), mock_server[1].url, identity=identity)
    for actor in cast.everyone[1:]:
        made.tokens[actor.name] = data(actor.client.post("/api/token/", json={"name": "own"}))["id"]
    yield made
    cast.close()
    gateway.close()
    identity_server.stop()
    smtp.stop()


@pytest.mark.parametrize("name", ["anonymous", "alice", "bob", "admin", "root"])
def test_every_route_for_every_role(world: World, name: str) -> None:
    """Allowed callers succeed; anonymous gets 401 and too-low roles One API's 200, success false, nothing changed."""
    actor: Actor = getattr(world.cast, name)
    problems: list[str] = []
    for case in CASES:
        allowed = actor.role >= case.role
        path, body = resolve(case.path, world, actor, allowed), resolve(case.body, world, actor, allowed)
        before = None if allowed else snapshot(world.gateway)
        response = actor.client.request(case.method, path, json=body)
        envelope = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        expected = 401 if not allowed and actor.role == PUBLIC else 200
        if response.status_code != expected or envelope.get("success") is not allowed:
            problems.append(f"{case.method} {path}: {response.status_code} {response.text[:120]}")
        elif not allowed and snapshot(world.gateway) != before:
            problems.append(f"{case.method} {path}: refused, but stored data changed")
        if allowed and path == "/api/user/token":
            # The previous access token stops working; carry on with the new one (the harness's root client too).
            if actor.by_token:
                actor.client.headers["Authorization"] = envelope["data"]
            if actor.user_id == ROOT_ID:
                world.gateway.admin.headers["Authorization"] = envelope["data"]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_tokens_of_other_users_are_out_of_reach(cast: Cast) -> None:
    """Another user's token id is 'not found' for every role, in every token route, and stays unchanged."""
    gateway = cast.gateway
    key = gateway.create_token(cast.bob.client, name="bobs")
    [bobs] = data(cast.bob.client.get("/api/token/"))
    before = snapshot(gateway)
    for actor in (cast.alice, cast.admin, cast.root):
        client = actor.client
        refused(client.get(f"/api/token/{bobs['id']}"), 200, "not found")
        refused(client.put("/api/token/", json={"id": bobs["id"], "name": "mine now", "unlimited_quota": True}),
                200, "not found")
        refused(client.put("/api/token/?status_only=1", json={"id": bobs["id"], "status": 2}), 200, "not found")
        refused(client.delete(f"/api/token/{bobs['id']}"), 200, "not found")
        assert bobs["id"] not in [t["id"] for t in data(client.get("/api/token/"))]
        assert data(client.get("/api/token/search", params={"keyword": "bobs"})) == []
        assert bobs["key"] not in client.get("/api/token/").text
    assert snapshot(gateway) == before
    assert httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_profiles_and_logs_of_other_users_are_out_of_reach(cast: Cast) -> None:
    """A common user can neither read nor change another user, nor see their logs, whatever ids they send."""
    gateway, alice, bob = cast.gateway, cast.alice.client, cast.bob.user_id
    before = snapshot(gateway)
    refused(alice.get(f"/api/user/{bob}"), 200, "permission")
    refused(alice.put("/api/user/", json={"id": bob, "quota": 1, "password": "stolen-password"}), 200, "permission")
    refused(alice.delete(f"/api/user/{bob}"), 200, "permission")
    refused(alice.post("/api/user/manage", json={"username": "bob", "action": "disable"}), 200, "permission")
    refused(alice.post("/api/topup", json={"user_id": cast.alice.user_id, "quota": 10**9}), 200, "permission")
    for path in ("/api/log/self", "/api/log/self/search?keyword=3"):
        assert {log["user_id"] for log in data(alice.get(path, params={"username": "bob", "user_id": bob}))} == {
            cast.alice.user_id}
    assert snapshot(gateway) == before
    # An id in PUT /api/user/self is ignored: only the caller changes.
    data(alice.put("/api/user/self", json={"id": bob, "display_name": "not bob"}))
    assert row(gateway, "users", bob)["display_name"] == "bob"
    assert row(gateway, "users", cast.alice.user_id)["display_name"] == "not bob"


def test_forged_or_foreign_credentials_are_refused(cast: Cast) -> None:
    """A tampered session cookie (401: no credentials at all), a relay key or a bad access token (One API's 200 with
    success false) never signs a management request."""
    gateway = cast.gateway
    cookie = cast.alice.client.cookies["session"]
    signature = cookie.split(".", 1)[1]
    forged = base64.b64encode(json.dumps({"id": 1, "username": "root", "role": 100}).encode()).decode()
    for value in (f"{forged}.{signature}", cookie[:-2] + "xx", "garbage"):
        with httpx.Client(base_url=gateway.url, cookies={"session": value}) as client:
            refused(client.get("/api/user/self"), 401)
    key = gateway.create_token(cast.alice.client)
    for header in (f"Bearer {key}", key, "Basic cm9vdDpyb290"):
        with httpx.Client(base_url=gateway.url, headers={"Authorization": header}) as client:
            refused(client.get("/api/user/self"), 200, "access token")
    data(cast.alice.client.get("/api/user/self"))  # the genuine cookie still works
