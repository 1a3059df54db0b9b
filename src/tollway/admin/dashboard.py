"""Usage per day and model: one's own last 7 days (One API's `/api/user/dashboard`) and everyone's (admins).

Both read the roll-up table (storage/rollups.py), never the logs, so they stay fast with millions of logs.
Days are UTC days, named `YYYY-MM-DD` as One API names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import Principal, api, int64, ok
from tollway.constants import Role
from tollway.errors import InvalidRequest
from tollway.storage.log_queries import ModelDay, daily_usage
from tollway.storage.rollups import DAY, EVERYONE, day_label, day_of, recent_days

if TYPE_CHECKING:
    from tollway.services import Services

DAYS = 7
MAX_DAYS = 366


def statistics(found: list[ModelDay]) -> list[dict[str, Any]]:
    """One API's LogStatistic JSON: Go field names, as its front-end reads them."""
    return [{"Day": day_label(row.day), "ModelName": row.model_name, "RequestCount": row.request_count,
             "Quota": row.quota, "PromptTokens": row.prompt_tokens, "CompletionTokens": row.completion_tokens}
            for row in found]


@api(Role.COMMON)
async def own_dashboard(request: Request, services: Services, principal: Principal) -> Response:
    """The caller's consume logs of the last 7 days, per day and model."""
    first, last = recent_days(DAYS)
    return ok(statistics(await daily_usage(services.log_engine, principal.id, first, last)))


def _param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "")
    return int64(raw, name) if raw else None


@api(Role.ADMIN)
async def dashboard(request: Request, services: Services, principal: Principal) -> Response:
    """Everyone's usage per day and model; `start_timestamp`/`end_timestamp` (default the last 7 days, at most 366),
    and optionally one `username` or `user_id` and one `model_name`."""
    start, end = _param(request, "start_timestamp"), _param(request, "end_timestamp")
    first, last = recent_days(DAYS)
    if end is not None:
        last = day_of(end)
    if start is not None:
        first = day_of(start)
    elif end is not None:
        first = last - (DAYS - 1) * DAY
    if first > last:
        raise InvalidRequest("start_timestamp is after end_timestamp")
    if (last - first) // DAY >= MAX_DAYS:
        raise InvalidRequest(f"the range can span at most {MAX_DAYS} days")
    user_id = _param(request, "user_id")
    username = request.query_params.get("username", "").strip()
    if username and user_id is None:
        user_id = next((u.id for u in services.cache.users.values() if u.username == username), None)
        if user_id is None:
            return ok([])
    # Without a user, the rows that already sum everyone: as few as one user's, however many users there are.
    found = await daily_usage(services.log_engine, EVERYONE if user_id is None else user_id, first, last,
                              request.query_params.get("model_name", ""))
    return ok(statistics(found))


def routes() -> list[Route]:
    return [
        Route("/user/dashboard", own_dashboard, methods=["GET"]),
        Route("/log/dashboard", dashboard, methods=["GET"]),
    ]
