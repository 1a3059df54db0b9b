"""Logs: every user's (admin) or one's own, filtered and paged; quota sums; deleting old entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import MAX_PAGE_SIZE, Principal, api, int64, ok, page
from tollway.admin.views import log_view
from tollway.constants import Role
from tollway.errors import InvalidRequest
from tollway.storage import log_deletion
from tollway.storage.keywords import keyword_number
from tollway.storage.log_queries import LogFilter, consume_quota_sum, log_page, matching_logs

if TYPE_CHECKING:
    from tollway.services import Services


def _int_param(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "")
    return int64(raw, name) if raw else 0


def log_filter(request: Request, *, own_user: int | None = None, by_type: bool = True) -> LogFilter:
    """One API's log filters: type, time range, username (admin), token, model, channel (admin)."""
    params = request.query_params
    kind = _int_param(request, "type")
    start, end = _int_param(request, "start_timestamp"), _int_param(request, "end_timestamp")
    channel = _int_param(request, "channel")
    return LogFilter(types=(kind,) if kind and by_type else (), since=start or None, until=end or None,
                     user_id=own_user, username=params.get("username", "") if own_user is None else "",
                     token_name=params.get("token_name", ""), model_name=params.get("model_name", ""),
                     channel_id=channel if channel and own_user is None else None)


@api(Role.ADMIN)
async def all_logs(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    return ok([log_view(row) for row in await log_page(services.log_engine, log_filter(request), offset, limit)])


@api(Role.COMMON)
async def own_logs(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await log_page(services.log_engine, log_filter(request, own_user=principal.id), offset, limit)
    return ok([log_view(row, with_id=False) for row in rows])


@api(Role.ADMIN)
async def stat(request: Request, services: Services, principal: Principal) -> Response:
    # One API's GetLogsStat ignores `type` (its front-end sends it): the sum is always of consume logs.
    return ok({"quota": await consume_quota_sum(services.log_engine, log_filter(request, by_type=False))})


@api(Role.COMMON)
async def own_stat(request: Request, services: Services, principal: Principal) -> Response:
    found = log_filter(request, own_user=principal.id, by_type=False)
    return ok({"quota": await consume_quota_sum(services.log_engine, found)})


@api(Role.ADMIN)
async def search(request: Request, services: Services, principal: Principal) -> Response:
    """`type = keyword OR content LIKE keyword%`, the 100 most recent (One API's SearchAllLogs)."""
    rows = await matching_logs(services.log_engine, request.query_params.get("keyword", ""), MAX_PAGE_SIZE)
    return ok([log_view(row) for row in rows])


@api(Role.COMMON)
async def own_search(request: Request, services: Services, principal: Principal) -> Response:
    """One's own logs of the type given as keyword."""
    number = keyword_number(request.query_params.get("keyword", ""))
    found = LogFilter(user_id=principal.id, types=() if number is None else (number,))
    rows = await log_page(services.log_engine, found, 0, MAX_PAGE_SIZE)
    return ok([log_view(row, with_id=False) for row in rows])


@api(Role.ADMIN)
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
