"""Relay authentication: `Authorization: Bearer sk-KEY[-CHANNEL]` checked against the token cache."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass

from tollway.aiproxy.admin_key import AdminKey
from tollway.constants import Role, TokenStatus, UserStatus
from tollway.errors import AuthenticationFailed, InsufficientQuota, InvalidRequest, PermissionDenied
from tollway.storage import tokens as token_store
from tollway.storage.cache import Cache, TokenEntry, UserEntry
from tollway.storage.keeper import Keeper

# Bound once: reading a member off its enum class costs about 150 ns, and every relay call checks these.
_TOKEN_ENABLED, _TOKEN_EXPIRED, _TOKEN_EXHAUSTED = TokenStatus.ENABLED, TokenStatus.EXPIRED, TokenStatus.EXHAUSTED
_USER_ENABLED = UserStatus.ENABLED
ADMIN_KEY_TOKEN = "ADMIN_KEY"  # the token name calls made with the admin key are logged under

# How long an unknown key is remembered as unknown, so that bad keys cannot make us query the database.
_UNKNOWN_TTL = 30.0
_UNKNOWN_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling the relay."""

    token: TokenEntry
    user: UserEntry
    pinned_channel: int | None = None
    # Tollway: the caller used AI Proxy's ADMIN_KEY (root, unlimited; may pin any channel with Aiproxy-Channel).
    admin: bool = False
    ip: str = ""


def parse_key(header: str) -> tuple[str, str]:
    """(key, channel suffix) from an Authorization header value."""
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    value = value.removeprefix("sk-")
    key, _, channel = value.partition("-")
    return key, channel


class Authenticator:
    """Checks relay keys in memory; a key not in memory is looked up once (a token made on another node)."""

    def __init__(self, cache: Cache, keeper: Keeper, admin_key: AdminKey | None = None) -> None:
        self.cache = cache
        self.keeper = keeper
        self.admin_key = admin_key or AdminKey("")
        self._unknown: dict[str, float] = {}
        # The admin key's token: root's, unlimited, never stored (id 0 matches no row).
        self._admin_token = TokenEntry(id=0, user_id=0, key="", name=ADMIN_KEY_TOKEN, status=TokenStatus.ENABLED,
                                       expired_time=-1, unlimited=True, models=None, subnets=None)
        self._loading: dict[str, asyncio.Future[TokenEntry | None]] = {}

    async def caller(self, authorization: str, client_ip: str) -> Caller:
        """Validate the key (status, expiry, quota, owner, subnet) and return the caller, or raise."""
        key, channel = parse_key(authorization)
        if not key:
            raise AuthenticationFailed("no API key provided; send Authorization: Bearer sk-...")
        token = self.cache.tokens.get(key)
        if token is None:
            # Only a key no token has can be the admin key, so ordinary calls never pay for the comparison.
            if self.admin_key.matches(authorization):
                return self._admin(client_ip)
            token = await self._load(key)
        if token is None:
            raise AuthenticationFailed("invalid API key")
        if token.status == _TOKEN_EXHAUSTED:
            raise InsufficientQuota("this token's quota is used up", code="insufficient_token_quota")
        if token.status == _TOKEN_EXPIRED or 0 <= token.expired_time < time.time():
            raise AuthenticationFailed("this token has expired", code="token_expired")
        if token.status != _TOKEN_ENABLED:
            raise AuthenticationFailed("this token is disabled", code="token_disabled")
        if not token.unlimited and token.remain.available <= 0:
            raise InsufficientQuota("this token's quota is used up", code="insufficient_token_quota")
        user = self.cache.users.get(token.user_id)
        if user is None or user.status != _USER_ENABLED:
            raise PermissionDenied("the owner of this token is disabled", code="user_disabled")
        if token.subnets is not None and not _allowed(client_ip, token):
            raise PermissionDenied(f"this token may not be used from {client_ip}", code="ip_not_allowed")
        pinned = None
        if channel:
            if user.role < Role.ADMIN:
                raise PermissionDenied("only administrators may pin a channel with sk-KEY-CHANNEL",
                                       code="channel_pin_forbidden")
            if not channel.isdigit():
                raise AuthenticationFailed("the channel suffix of the key must be a channel id")
            pinned = int(channel)
        return Caller(token=token, user=user, pinned_channel=pinned, ip=client_ip)

    def _admin(self, client_ip: str) -> Caller:
        """The admin key's caller: the first enabled root user, with an unlimited token of its own."""
        root = self.cache.users.get(self._admin_token.user_id)
        if root is None or root.role < Role.ROOT or root.status != UserStatus.ENABLED:
            roots = [u for u in self.cache.users.values() if u.role >= Role.ROOT and u.status == UserStatus.ENABLED]
            if not roots:
                raise PermissionDenied("the admin key needs an enabled root user to act for", code="no_root_user")
            root = min(roots, key=lambda user: user.id)
            self._admin_token.user_id = root.id
        return Caller(token=self._admin_token, user=root, admin=True, ip=client_ip)

    def pin(self, caller: Caller, header: str) -> Caller:
        """Honour `Aiproxy-Channel: <id>` (AI Proxy's header): the admin key only, as AI Proxy allows it."""
        if not caller.admin:
            raise PermissionDenied("the Aiproxy-Channel header is allowed only with the admin key",
                                   code="channel_pin_forbidden")
        value = header.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            raise InvalidRequest("the Aiproxy-Channel header must be a channel id", param="Aiproxy-Channel")
        return Caller(token=caller.token, user=caller.user, pinned_channel=int(value), admin=True, ip=caller.ip)

    async def _load(self, key: str) -> TokenEntry | None:
        now = time.monotonic()
        if self._unknown.get(key, 0.0) > now or len(key) > 48:
            return None
        # Concurrent first uses of one key share one lookup (a new token on another node meets a burst).
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._lookup(key, now))
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(loading)

    async def _lookup(self, key: str, now: float) -> TokenEntry | None:
        found = await token_store.token_and_owner(self.keeper.engine, key)
        if found is None:
            if len(self._unknown) >= _UNKNOWN_MAX:
                self._unknown = {k: t for k, t in self._unknown.items() if t > now}
            self._unknown[key] = now + _UNKNOWN_TTL
            return None
        token_row, user_row = found
        if token_row["user_id"] not in self.cache.users:
            self.cache.put_user(user_row)
        return self.cache.tokens.get(key) or self.cache.put_token(token_row)


def allow_model(caller: Caller, model: str) -> None:
    """Refuse a model outside the token's allow-list (an empty list allows every model)."""
    if caller.token.models is not None and model not in caller.token.models:
        raise PermissionDenied(f"this token may not use model {model}", code="model_not_allowed")


def _allowed(client_ip: str, token: TokenEntry) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in network for network in token.subnets or ())
