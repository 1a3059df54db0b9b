"""Browser sessions: a signed `session` cookie naming a server-side session that logout and password changes end.

The cookie carries the session data (One API's id, username, role, status; the OAuth nonce; the Turnstile mark)
signed with SESSION_SECRET. A signed-in session also names a row of `tollway_sessions`; every node keeps the live
rows in memory (refreshed every few seconds, and looked up once when another node opened the session), so a
request never waits for the database, and ending a session in the database ends it everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from base64 import b64decode, b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import itsdangerous
import orjson
from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollway.accounts import csrf
from tollway.bodies import read_body
from tollway.console.i18n import language_of, translate_message
from tollway.errors import TollwayError
from tollway.storage import changes
from tollway.storage import sessions as session_store
from tollway.storage.database import Engine

log = logging.getLogger(__name__)

COOKIE = "session"
MAX_AGE_S = 30 * 24 * 3600
_GONE_TTL_S = 60.0
_GONE_MAX = 10_000


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True)
class Live:
    user_id: int
    expires_at: int


class SessionRegistry:
    """Which signed-in sessions are still open, known in memory and kept in the database."""

    def __init__(self, engine: Engine, *, refresh_s: float, max_age_s: int = MAX_AGE_S) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self.max_age_s = max_age_s
        self.live: dict[str, Live] = {}
        self._gone: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        # Set by the change follower (operations/changes.py): tell other processes at once through Redis.
        self.announce: Callable[[str, str], None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="tollway-sessions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:
                log.exception("reloading sessions failed; keeping the ones known")

    async def refresh(self) -> None:
        """Reload the open sessions (sessions ended on other nodes disappear) and delete expired ones."""
        now = int(time.time())
        rows = await session_store.drop_expired_and_list(self.engine, now)
        fresh = {key: Live(user_id, expires_at) for key, (user_id, expires_at) in rows.items()}
        for key in set(self.live) - set(fresh):
            self._forget(key)
        self.live = fresh

    async def open(self, user_id: int, ip: str) -> str:
        """Record a new session for this user and return its id (to be put in the signed cookie)."""
        sid = secrets.token_urlsafe(32)
        key, now = _digest(sid), int(time.time())
        await session_store.insert_session(self.engine, key, user_id, now, now + self.max_age_s, ip[:64])
        self.live[key] = Live(user_id, now + self.max_age_s)
        return sid

    async def alive(self, sid: object, user_id: object) -> bool:
        """Whether the session is open and belongs to this user; asks the database only for sessions not yet seen."""
        if not isinstance(sid, str) or not isinstance(user_id, int):
            return False
        key = _digest(sid)
        entry = self.live.get(key)
        if entry is None:
            if self._gone.get(key, 0.0) > time.monotonic():
                return False
            owner = await session_store.session_owner(self.engine, key)
            if owner is None:
                self._forget(key)
                return False
            entry = self.live[key] = Live(*owner)
        return entry.user_id == user_id and entry.expires_at > time.time()

    async def end(self, sid: object) -> None:
        """End one session (logout); other processes forget it within a second or two."""
        if isinstance(sid, str):
            key = _digest(sid)
            await session_store.delete_session(self.engine, key)
            self._forget(key)
            self._announce(key)

    async def end_user(self, user_id: int, *, keep: object = None) -> None:
        """End every session of a user, except `keep` (the session that changed the password)."""
        kept = _digest(keep) if isinstance(keep, str) else ""
        await session_store.delete_user_sessions(self.engine, user_id, keep=kept)
        for key in [k for k, entry in self.live.items() if entry.user_id == user_id and k != kept]:
            self._forget(key)
        self._announce(f"user:{user_id}")

    def _announce(self, ref: str) -> None:
        if self.announce is not None:
            self.announce(changes.SESSION, ref)

    async def follow(self, ref: str) -> None:
        """Another process ended a session (`ref` its digest) or a user's sessions (`user:<id>`): forget them here."""
        kind, _, user = ref.partition(":")
        if kind != "user" or not user.isdigit():
            self._forget(ref)
            return
        kept = await session_store.user_session_keys(self.engine, int(user))
        for key in [k for k, entry in self.live.items() if entry.user_id == int(user) and k not in kept]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self.live.pop(key, None)
        if len(self._gone) >= _GONE_MAX:
            now = time.monotonic()
            self._gone = {k: t for k, t in self._gone.items() if t > now}
        self._gone[key] = time.monotonic() + _GONE_TTL_S


def is_https(connection: HTTPConnection) -> bool:
    """Whether cookies must be Secure: the request itself came over HTTPS, directly or as a trusted proxy's
    X-Forwarded-Proto says (FORWARDED_ALLOW_IPS). Never from ServerAddress: an imported `https://` address would
    make the cookie Secure on plain HTTP, where the browser then drops it and no sign-in sticks."""
    return connection.url.scheme in ("https", "wss")


class SessionMiddleware:
    """Loads the signed session cookie, drops it when its server-side session has ended, and enforces CSRF checks."""

    def __init__(self, app: ASGIApp, secret_key: str, max_age: int = MAX_AGE_S) -> None:
        self.app = app
        self.signer = itsdangerous.TimestampSigner(secret_key)
        self.max_age = max_age

    def _load(self, raw: str | None) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            data = orjson.loads(b64decode(self.signer.unsign(raw.encode(), max_age=self.max_age)))
        except (BadSignature, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _dump(self, data: dict[str, Any]) -> str:
        return self.signer.sign(b64encode(orjson.dumps(data))).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        accounts = services.accounts
        connection = HTTPConnection(scope)
        had_cookie = COOKIE in connection.cookies
        data = self._load(connection.cookies.get(COOKIE))
        if "id" in data and not await accounts.sessions.alive(data.get("sid"), data.get("id")):
            data = {}
        scope["session"] = data
        before = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        server_address = services.cache.options.text("ServerAddress")
        path = scope.get("path", "")[len(scope.get("root_path", "")):] or "/"
        if csrf.needs_check(scope["method"], path) and "authorization" not in connection.headers:
            checked = await self._check_csrf(connection, data, server_address,
                                             services.settings.max_request_body_bytes, receive, send)
            if checked is None:
                return
            receive = checked
        secure = is_https(connection)

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                headers = MutableHeaders(scope=message)
                changed = orjson.dumps(session, option=orjson.OPT_SORT_KEYS) != before
                if session and (changed or not had_cookie):
                    headers.append("set-cookie", self._cookie(COOKIE, self._dump(session), self.max_age, secure,
                                                              http_only=True))
                elif not session and had_cookie:
                    headers.append("set-cookie", self._cookie(COOKIE, "", 0, secure, http_only=True))
                token = session.get("csrf")
                if token and (changed or connection.cookies.get(csrf.COOKIE) != token):
                    headers.append("set-cookie", self._cookie(csrf.COOKIE, token, self.max_age, secure,
                                                              http_only=False))
                elif not token and csrf.COOKIE in connection.cookies:
                    headers.append("set-cookie", self._cookie(csrf.COOKIE, "", 0, secure, http_only=False))
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    async def _check_csrf(self, connection: HTTPConnection, data: dict[str, Any], server_address: str,
                          body_limit: int, receive: Receive, send: Send) -> Receive | None:
        """The receive channel to go on with (the body replayed if it was read for a form token), or None if refused."""
        expected = data.get("csrf")
        if csrf.token_matches(expected, connection.headers.get(csrf.HEADER)):
            return receive
        verdict = csrf.same_origin(connection.headers, connection.url.scheme, server_address)
        if verdict is not False:
            return receive
        content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if expected and content_type == csrf.FORM_TYPE:
            try:
                body = await read_body(Request(connection.scope, receive), body_limit)
            except TollwayError:
                body = b""
            if csrf.token_matches(expected, csrf.form_token(body)):
                return _replay(body, receive)
        payload = orjson.dumps({"success": False, "message": translate_message(csrf.refusal(),
                                                                               language_of(connection))})
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        return None

    @staticmethod
    def _cookie(name: str, value: str, max_age: int, secure: bool, *, http_only: bool) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
        if http_only:
            parts.append("HttpOnly")
        if secure:
            parts.append("Secure")
        return "; ".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the already-read body to the route, then listens to the client again."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def sign_in(request: Request, registry: SessionRegistry, user: Mapping[Any, Any]) -> None:
    """Open a fresh session for this user (never reusing the old cookie's data) with a new CSRF token."""
    sid = await registry.open(int(user["id"]), request.client.host if request.client else "")
    request.session.clear()
    request.session.update({"id": user["id"], "username": user["username"], "role": user["role"],
                            "status": user["status"], "sid": sid, "csrf": secrets.token_urlsafe(32)})


async def sign_out(request: Request, registry: SessionRegistry) -> None:
    """End this browser's session here and on every node."""
    await registry.end(request.session.get("sid"))
    request.session.clear()
