"""A user's own relay tokens: list, search, read, create, update and delete (never another user's)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import keys
from tollway.admin import names
from tollway.admin.envelope import MAX_PAGE_SIZE, Principal, api, field, ok, page, path_id, read_json
from tollway.admin.views import token_view
from tollway.constants import Role, TokenStatus
from tollway.errors import InvalidRequest
from tollway.storage import tokens as token_store
from tollway.storage import writes
from tollway.storage.cache import parse_subnets, split_list

if TYPE_CHECKING:
    from tollway.services import Services

NAME_MAX = 30
RPM_MAX = 2**31 - 1
TPM_MAX = 2**53


async def own(services: Services, principal: Principal, token_id: int) -> dict[str, Any]:
    """The caller's token with this id; another user's token is reported as not found."""
    row = await token_store.own_token(services.engine, principal.id, token_id)
    if row is None:
        raise InvalidRequest(f"token {token_id} not found")
    return dict(row)


def _fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validated writable fields of a token body."""
    values: dict[str, Any] = {}
    if creating or "name" in data:
        name = names.name(field(data, "name", str, default=""), "token name")
        if len(name) > NAME_MAX:
            raise InvalidRequest(f"token name must be at most {NAME_MAX} characters")
        values["name"] = name
    if creating or "expired_time" in data:
        expired = field(data, "expired_time", int, default=-1)
        if expired != -1 and expired <= 0:
            raise InvalidRequest("expired_time must be -1 (never) or a unix time")
        values["expired_time"] = expired
    if creating or "remain_quota" in data:
        remain = field(data, "remain_quota", int, default=0)
        if remain < 0:
            raise InvalidRequest("remain_quota must not be negative")
        values["remain_quota"] = remain
    if creating or "unlimited_quota" in data:
        values["unlimited_quota"] = bool(field(data, "unlimited_quota", bool, default=False))
    if creating or "models" in data:
        values["models"] = ",".join(split_list(names.name(field(data, "models", str, default=""), "model names")))
    if creating or "subnet" in data:
        subnet = field(data, "subnet", str, default="")
        try:
            parse_subnets(subnet)
        except ValueError as exc:
            raise InvalidRequest(f"subnet must be comma-separated CIDRs: {exc}") from exc
        values["subnet"] = ",".join(split_list(subnet))
    for name, largest in (("rpm_limit", RPM_MAX), ("tpm_limit", TPM_MAX)):
        if name in data:  # Tollway's fields: One API's forms never send them, so they are never required
            number = field(data, name, int, default=0)
            if not 0 <= number <= largest:
                raise InvalidRequest(f"{name} must be between 0 (the group's default) and {largest}")
            values[name] = number or None
    return values


@api(Role.COMMON)
async def list_tokens(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await token_store.own_tokens(services.engine, principal.id, order=request.query_params.get("order", ""),
                                        offset=offset, limit=limit)
    return ok([token_view(row, services.cache) for row in rows])


@api(Role.COMMON)
async def search_tokens(request: Request, services: Services, principal: Principal) -> Response:
    keyword = request.query_params.get("keyword", "")
    rows = await token_store.own_tokens(services.engine, principal.id, keyword, limit=MAX_PAGE_SIZE)
    return ok([token_view(row, services.cache) for row in rows])


@api(Role.COMMON)
async def get_token(request: Request, services: Services, principal: Principal) -> Response:
    return ok(token_view(await own(services, principal, path_id(request)), services.cache))


@api(Role.COMMON)
async def create_token(request: Request, services: Services, principal: Principal) -> Response:
    data = await read_json(request, services)
    now = int(time.time())
    values = _fields(data, creating=True)
    values.update(user_id=principal.id, key=keys.token_key(), status=TokenStatus.ENABLED, created_time=now,
                  accessed_time=now, used_quota=0)
    row = await writes.insert_token(services.keeper, values)
    return ok(token_view(row, services.cache))


@api(Role.COMMON)
async def update_token(request: Request, services: Services, principal: Principal) -> Response:
    """Update a token, or with `?status_only=1` only its status (refused for an expired or used-up token)."""
    data = await read_json(request, services)
    token_id = field(data, "id", int)
    if not token_id:
        raise InvalidRequest("id is required")
    row = await own(services, principal, token_id)
    status_only = bool(request.query_params.get("status_only"))
    if status_only and data.get("status") is None:
        raise InvalidRequest("status is required with status_only")
    values = {} if status_only else _fields(data, creating=False)
    if data.get("status") is not None:
        status = field(data, "status", int)
        if status not in tuple(TokenStatus):
            raise InvalidRequest("status must be 1 (enabled), 2 (disabled), 3 (expired) or 4 (exhausted)")
        # One API's edit form sends the current status back with every change; only a real re-enable is checked.
        if status == TokenStatus.ENABLED and row["status"] != TokenStatus.ENABLED:
            expired = values.get("expired_time", row["expired_time"])
            if expired != -1 and expired <= time.time():
                raise InvalidRequest("the token has expired; change its expiry or make it never expire first")
            live = services.cache.tokens_by_id.get(token_id)
            left = live.remain.left_now(row["remain_quota"]) if live else row["remain_quota"]
            remain = values.get("remain_quota", left)
            unlimited = values.get("unlimited_quota", row["unlimited_quota"])
            if not unlimited and remain <= 0:
                raise InvalidRequest("the token's quota is used up; raise it or make it unlimited first")
        values["status"] = status
    if not values:  # nothing to change (a body with only the id); an empty UPDATE is not valid SQL
        return ok(token_view(row, services.cache))
    updated = await writes.update_token(services.keeper, token_id, values)
    return ok(token_view(updated, services.cache))


@api(Role.COMMON)
async def delete_token(request: Request, services: Services, principal: Principal) -> Response:
    row = await own(services, principal, path_id(request))
    await writes.delete_token(services.keeper, row["id"])
    return ok()


def routes() -> list[Route]:
    return [
        Route("/token/", list_tokens, methods=["GET"]),
        Route("/token/search", search_tokens, methods=["GET"]),
        Route("/token/{id:int}", get_token, methods=["GET"]),
        Route("/token/", create_token, methods=["POST"]),
        Route("/token/", update_token, methods=["PUT"]),
        Route("/token/{id:int}", delete_token, methods=["DELETE"]),
    ]
