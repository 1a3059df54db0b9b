"""Redemption codes: admins create them in batches, list, search, enable or disable and delete them; users redeem."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin import names
from tollway.admin.envelope import MAX_PAGE_SIZE, Principal, api, field, ok, page, path_id, read_json
from tollway.constants import RedemptionStatus, Role
from tollway.errors import InvalidRequest
from tollway.storage import redemptions as code_store
from tollway.storage import writes
from tollway.storage.cache import Row

if TYPE_CHECKING:
    from tollway.services import Services

MAX_BATCH = 100
MAX_NAME = 20
_FIELDS = ("id", "user_id", "key", "status", "name", "quota", "created_time", "redeemed_time", "used_user_id")


def code_view(row: Row) -> dict[str, Any]:
    """A code with One API's field names (admins see the key: they hand it out)."""
    view = {name: row[name] for name in _FIELDS}
    view["name"] = view["name"] or ""
    view["used_user_id"] = view["used_user_id"] or 0
    return view


def new_key() -> str:
    """32 random hex digits, the shape of One API's keys (a UUID without dashes)."""
    return secrets.token_hex(16)


def _name(data: dict[str, Any]) -> str:
    name = names.name(str(field(data, "name", str, default="")), "redemption name").strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidRequest(f"name must be 1-{MAX_NAME} characters")
    return name


def _quota(data: dict[str, Any]) -> int:
    quota = field(data, "quota", int)
    if quota is None or quota <= 0:
        raise InvalidRequest("quota must be a positive integer")
    return int(quota)


async def _load(services: Services, code_id: int) -> Row:
    row = await code_store.code_by_id(services.engine, code_id)
    if row is None:
        raise InvalidRequest(f"redemption code {code_id} not found")
    return row


@api(Role.ADMIN)
async def list_codes(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await code_store.find_codes(services.engine, offset=offset, limit=limit)
    return ok([code_view(row) for row in rows])


@api(Role.ADMIN)
async def search_codes(request: Request, services: Services, principal: Principal) -> Response:
    """By id, or by name prefix (One API's SearchRedemptions), the 100 most recent."""
    keyword = request.query_params.get("keyword", "").strip()
    rows = await code_store.find_codes(services.engine, keyword, limit=MAX_PAGE_SIZE)
    return ok([code_view(row) for row in rows])


@api(Role.ADMIN)
async def get_code(request: Request, services: Services, principal: Principal) -> Response:
    return ok(code_view(await _load(services, path_id(request))))


@api(Role.ADMIN)
async def create_codes(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{name, quota, count}`: make `count` (1-100) codes; answers their keys."""
    data = await read_json(request, services)
    name, quota = _name(data), _quota(data)
    count = field(data, "count", int, default=1)
    if not 1 <= count <= MAX_BATCH:
        raise InvalidRequest(f"count must be between 1 and {MAX_BATCH}")
    now = int(time.time())
    keys = [new_key() for _ in range(count)]
    rows = [{"user_id": principal.id, "key": key, "status": RedemptionStatus.ENABLED, "name": name, "quota": quota,
             "created_time": now, "redeemed_time": 0, "used_user_id": 0} for key in keys]
    await code_store.insert_codes(services.engine, rows)  # all of the batch or none of it
    return ok(keys)


@api(Role.ADMIN)
async def update_code(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{id, name, quota}`, or `{id, status}` with `?status_only=1`; a redeemed code cannot change."""
    data = await read_json(request, services)
    code_id = field(data, "id", int)
    if not code_id:
        raise InvalidRequest("id is required")
    row = await _load(services, code_id)
    if row["status"] == RedemptionStatus.USED:
        raise InvalidRequest("this redemption code has been redeemed and cannot be changed")
    if request.query_params.get("status_only"):
        status = field(data, "status", int)
        if status not in (RedemptionStatus.ENABLED, RedemptionStatus.DISABLED):
            raise InvalidRequest("status must be 1 (enabled) or 2 (disabled)")
        changed = await writes.set_code_status(services.keeper, code_id, status)
    else:
        changed = await code_store.update_unused_code(services.engine, code_id,
                                                      {"name": _name(data), "quota": _quota(data)})
    if not changed:  # redeemed (or deleted) while this request was on its way
        raise InvalidRequest("this redemption code has been redeemed and cannot be changed")
    return ok(code_view(await _load(services, code_id)))


@api(Role.ADMIN)
async def delete_code(request: Request, services: Services, principal: Principal) -> Response:
    row = await _load(services, path_id(request))
    await code_store.delete_code(services.engine, row["id"])
    return ok()


@api(Role.COMMON)
async def redeem(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{key}`: redeem a code for oneself; answers the quota credited (One API's `POST /api/user/topup`)."""
    data = await read_json(request, services)
    key = field(data, "key", str, default="").strip()
    if not key:
        raise InvalidRequest("redemption code is required")
    if len(key) > 64:
        raise InvalidRequest("invalid redemption code")
    try:
        code, _ = await writes.redeem(services.keeper, key, principal.id)
    except writes.RedeemRefused as exc:
        raise InvalidRequest(str(exc)) from exc
    return ok(int(code["quota"] or 0))


def routes() -> list[Route]:
    return [
        Route("/redemption/", list_codes, methods=["GET"]),
        Route("/redemption/search", search_codes, methods=["GET"]),
        Route("/redemption/{id:int}", get_code, methods=["GET"]),
        Route("/redemption/", create_codes, methods=["POST"]),
        Route("/redemption/", update_code, methods=["PUT"]),
        Route("/redemption/{id:int}", delete_code, methods=["DELETE"]),
        Route("/user/topup", redeem, methods=["POST"]),
    ]
