"""Usage per day and model: one's own last 7 days (One API's `/api/user/dashboard`) and everyone's (admins).

Both read the roll-up table (storage/rollups.py), never the logs, so they stay fast with millions of logs.
Days are UTC days, named `YYYY-MM-DD` as One API names them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import ROLE_ADMIN, ROLE_COMMON, Principal, api, int64, ok
from tollway.errors import InvalidRequest
from tollway.storage import schema
from tollway.storage.rollups import DAY, EVERYONE, day_label, day_of

if TYPE_CHECKING:
    from tollway.services import Services

rollups = schema.log_rollups
DAYS = 7
MAX_DAYS = 366


def _rows(found: Any) -> list[dict[str, Any]]:
    """One API's LogStatistic JSON: Go field names, as its front-end reads them."""
    return [{"Day": day_label(int(row["day"])), "ModelName": row["model_name"],
             "RequestCount": int(row["request_count"]), "Quota": int(row["quota"]),
             "PromptTokens": int(row["prompt_tokens"]), "CompletionTokens": int(row["completion_tokens"])}
            for row in found]


async def _query(services: Services, where: list[ColumnElement[bool]]) -> list[dict[str, Any]]:
    query = (select(rollups.c.day, rollups.c.model_name,
                    func.sum(rollups.c.request_count).label("request_count"),
                    func.sum(rollups.c.quota).label("quota"),
                    func.sum(rollups.c.prompt_tokens).label("prompt_tokens"),
                    func.sum(rollups.c.completion_tokens).label("completion_tokens"))
             .where(*where).group_by(rollups.c.day, rollups.c.model_name)
             .order_by(rollups.c.day, rollups.c.model_name))
    async with services.log_engine.connect() as conn:
        return _rows((await conn.execute(query)).mappings().all())


def _last_days(days: int) -> tuple[int, int]:
    """The first and last day of the `days` days ending today (UTC), as One API's GetUserDashboard counts."""
    today = day_of(int(time.time()))
    return today - (days - 1) * DAY, today


@api(ROLE_COMMON)
async def own_dashboard(request: Request, services: Services, principal: Principal) -> Response:
    """The caller's consume logs of the last 7 days, per day and model."""
    first, last = _last_days(DAYS)
    where = [rollups.c.user_id == principal.id, rollups.c.day >= first, rollups.c.day <= last]
    return ok(await _query(services, where))


def _param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "")
    return int64(raw, name) if raw else None


@api(ROLE_ADMIN)
async def dashboard(request: Request, services: Services, principal: Principal) -> Response:
    """Everyone's usage per day and model; `start_timestamp`/`end_timestamp` (default the last 7 days, at most 366),
    and optionally one `username` or `user_id` and one `model_name`."""
    start, end = _param(request, "start_timestamp"), _param(request, "end_timestamp")
    first, last = _last_days(DAYS)
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
    where: list[ColumnElement[bool]] = [rollups.c.day >= first, rollups.c.day <= last]
    user_id = _param(request, "user_id")
    username = request.query_params.get("username", "").strip()
    if username and user_id is None:
        user_id = next((u.id for u in services.cache.users.values() if u.username == username), None)
        if user_id is None:
            return ok([])
    # Without a user, the rows that already sum everyone: as few as one user's, however many users there are.
    where.append(rollups.c.user_id == (EVERYONE if user_id is None else user_id))
    if request.query_params.get("model_name"):
        where.append(rollups.c.model_name == request.query_params["model_name"])
    return ok(await _query(services, where))


def routes() -> list[Route]:
    return [
        Route("/user/dashboard", own_dashboard, methods=["GET"]),
        Route("/log/dashboard", dashboard, methods=["GET"]),
    ]
