"""Logs: every user's (admin) or one's own, filtered and paged; quota sums; deleting old entries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, desc, func, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import (
    MAX_PAGE_SIZE,
    ROLE_ADMIN,
    ROLE_COMMON,
    Principal,
    api,
    int64,
    keyword_number,
    like_prefix,
    ok,
    page,
)
from tollway.admin.views import log_view
from tollway.errors import InvalidRequest
from tollway.storage import log_deletion, schema, writes

if TYPE_CHECKING:
    from tollway.services import Services

logs = schema.logs


def _int_param(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "")
    return int64(raw, name) if raw else 0


def filters(request: Request, *, own_user: int | None = None, by_type: bool = True) -> list[ColumnElement[bool]]:
    """One API's log filters: type, time range, username (admin), token, model, channel (admin)."""
    where: list[ColumnElement[bool]] = []
    kind = _int_param(request, "type")
    if kind and by_type:
        where.append(logs.c.type == kind)
    start, end = _int_param(request, "start_timestamp"), _int_param(request, "end_timestamp")
    if start:
        where.append(logs.c.created_at >= start)
    if end:
        where.append(logs.c.created_at <= end)
    if own_user is not None:
        where.append(logs.c.user_id == own_user)
    elif request.query_params.get("username"):
        where.append(logs.c.username == request.query_params["username"])
    for param, column in (("token_name", logs.c.token_name), ("model_name", logs.c.model_name)):
        if request.query_params.get(param):
            where.append(column == request.query_params[param])
    channel = _int_param(request, "channel")
    if channel and own_user is None:
        where.append(logs.c.channel_id == channel)
    return where


def page_query(where: list[ColumnElement[bool]], offset: int, limit: int) -> Select[Any]:
    """Newest first; each equality filter has an index that yields its rows in id order (storage/schema.py)."""
    return select(logs).where(and_(True, *where)).order_by(desc(logs.c.id)).offset(offset).limit(limit)


def sum_query(where: list[ColumnElement[bool]]) -> Select[Any]:
    return select(func.coalesce(func.sum(logs.c.quota), 0)).where(and_(logs.c.type == writes.LOG_CONSUME, *where))


async def _rows(services: Services, where: list[ColumnElement[bool]], offset: int, limit: int) -> list[Any]:
    async with services.log_engine.connect() as conn:
        return list((await conn.execute(page_query(where, offset, limit))).mappings().all())


async def _quota_sum(services: Services, where: list[ColumnElement[bool]]) -> int:
    async with services.log_engine.connect() as conn:
        return int((await conn.execute(sum_query(where))).scalar_one())


@api(ROLE_ADMIN)
async def all_logs(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    return ok([log_view(row) for row in await _rows(services, filters(request), offset, limit)])


@api(ROLE_COMMON)
async def own_logs(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await _rows(services, filters(request, own_user=principal.id), offset, limit)
    return ok([log_view(row, with_id=False) for row in rows])


@api(ROLE_ADMIN)
async def stat(request: Request, services: Services, principal: Principal) -> Response:
    # One API's GetLogsStat ignores `type` (its front-end sends it): the sum is always of consume logs.
    return ok({"quota": await _quota_sum(services, filters(request, by_type=False))})


@api(ROLE_COMMON)
async def own_stat(request: Request, services: Services, principal: Principal) -> Response:
    return ok({"quota": await _quota_sum(services, filters(request, own_user=principal.id, by_type=False))})


@api(ROLE_ADMIN)
async def search(request: Request, services: Services, principal: Principal) -> Response:
    """`type = keyword OR content LIKE keyword%`, the 100 most recent (One API's SearchAllLogs)."""
    keyword = request.query_params.get("keyword", "")
    pattern = like_prefix(keyword)
    match: ColumnElement[bool] = logs.c.content.like(pattern, escape="\\")
    number = keyword_number(keyword)
    if number is not None:
        match = or_(logs.c.type == number, match)
    return ok([log_view(row) for row in await _rows(services, [match], 0, MAX_PAGE_SIZE)])


@api(ROLE_COMMON)
async def own_search(request: Request, services: Services, principal: Principal) -> Response:
    """One's own logs of the type given as keyword."""
    keyword = request.query_params.get("keyword", "")
    where = [logs.c.user_id == principal.id]
    number = keyword_number(keyword)
    if number is not None:
        where.append(logs.c.type == number)
    rows = await _rows(services, where, 0, MAX_PAGE_SIZE)
    return ok([log_view(row, with_id=False) for row in rows])


@api(ROLE_ADMIN)
async def delete_before(request: Request, services: Services, principal: Principal) -> Response:
    """Delete logs created before `target_timestamp`; answers how many were deleted."""
    target = _int_param(request, "target_timestamp")
    if target <= 0:
        raise InvalidRequest("target_timestamp is required")
    # In batches with their dashboard sums, so that relay calls never wait behind one huge DELETE.
    return ok(await log_deletion.delete_before(services.log_engine, target, pause=0.005))


def routes() -> list[Route]:
    return [
        Route("/log/", all_logs, methods=["GET"]),
        Route("/log/", delete_before, methods=["DELETE"]),
        Route("/log/stat", stat, methods=["GET"]),
        Route("/log/self/stat", own_stat, methods=["GET"]),
        Route("/log/search", search, methods=["GET"]),
        Route("/log/self", own_logs, methods=["GET"]),
        Route("/log/self/search", own_search, methods=["GET"]),
    ]
