"""Logs: one's own (admins: everyone's) filtered like GET /api/log/ and paged, their quota sum, one call in full."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin import logs as log_api
from tollway.admin.envelope import INT64_MAX, page
from tollway.admin.views import log_view
from tollway.console.render import ROLE_ADMIN, ROLE_COMMON, Visitor, render
from tollway.console.render import page as console_page
from tollway.errors import InvalidRequest
from tollway.storage import log_details, schema

if TYPE_CHECKING:
    from tollway.services import Services

logs, tokens = schema.logs, schema.tokens
PAGE_SIZES = (10, 20, 50, 100)
FILTERS = ("type", "start_timestamp", "end_timestamp", "token_name", "model_name", "username", "channel", "size")


def _(text: str) -> str:
    """Marks English text for translation; the template translates it when it shows it."""
    return text


# One API's log types (model/log.go) with their badge; 0 means every type in a filter.
TYPES: dict[int, tuple[str, str]] = {
    1: (_("Top-up"), "ok"), 2: (_("Consume"), ""), 3: (_("Manage"), "warn"), 4: (_("System event"), ""),
    5: (_("Test"), ""), 6: (_("Error"), "bad"),
}


# The API a call's client spoke (logs.inbound_api); "" is OpenAI's own, and One API's logs have none.
APIS: dict[str, str] = {"": _("OpenAI"), "anthropic": _("Anthropic Messages"), "responses": _("OpenAI Responses"),
                        "gemini": _("Gemini")}


def type_label(kind: int) -> tuple[str, str]:
    return TYPES.get(kind, (_("Unknown"), ""))


def channel_names(services: Services) -> dict[int, str]:
    return {channel.id: channel.name for channel in services.cache.channels.values()}


def shown(row: Any, services: Services, *, admin: bool) -> dict[str, Any]:
    """A log as the page shows it: the API's fields (no id for a common user), its type label and channel name."""
    view = log_view(row, with_id=admin)
    label, badge = type_label(view["type"])
    view.update(type_label=label, badge=badge, api_label=APIS.get(view["inbound_api"], view["inbound_api"]),
                channel_name=services.cache.channels[view["channel"]].name
                if admin and view["channel"] in services.cache.channels else "")
    return view


@console_page(ROLE_COMMON)
async def log_list(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    admin = seen.role >= ROLE_ADMIN
    own = None if admin else seen.user.id
    invalid = False
    try:  # the API's own filters and paging, so the page lists exactly what GET /api/log/(self) answers
        where = log_api.filters(request, own_user=own)
        summed = log_api.filters(request, own_user=own, by_type=False)
        offset, size = page(request)
    except InvalidRequest:
        invalid = True
        mine: list[ColumnElement[bool]] = [] if own is None else [logs.c.user_id == own]
        where, summed, (offset, size) = mine, list(mine), (0, PAGE_SIZES[0])
    number = offset // size
    if size not in PAGE_SIZES:  # the page offers these sizes only
        size = PAGE_SIZES[0]
    offset = number * size
    async with services.log_engine.connect() as conn:
        # One more row than shown tells whether a next page exists without counting millions of logs.
        rows = (await conn.execute(log_api.page_query(where, offset, size + 1))).mappings().all()
        quota_sum = int((await conn.execute(log_api.sum_query(summed))).scalar_one())
    async with services.engine.connect() as conn:
        token_names = sorted(set((await conn.execute(
            select(tokens.c.name).where(tokens.c.user_id == seen.user.id))).scalars().all()))
    kept = {name: request.query_params[name] for name in FILTERS if request.query_params.get(name)}

    def page_url(to: int) -> str:
        return "/log?" + urlencode({**kept, "p": to})

    params = request.query_params
    return render(request, services, "logs/list.html", admin=admin, invalid=invalid,
                  logs=[shown(row, services, admin=admin) for row in rows[:size]], has_next=len(rows) > size,
                  number=number, page_url=page_url, quota_sum=quota_sum, types=TYPES, sizes=PAGE_SIZES, size=size,
                  filtered=bool(set(kept) - {"size"}),
                  channels=sorted(channel_names(services).items()) if admin else [],
                  token_names=token_names, models=services.routes.table.models(seen.user.group),
                  f={name: params.get(name, "") for name in FILTERS})


@console_page(ROLE_ADMIN)
async def log_detail(request: Request, services: Services, seen: Visitor) -> Response:
    log_id = int(request.path_params["id"])
    row = bodies = None
    if log_id <= INT64_MAX:
        async with services.log_engine.connect() as conn:
            row = (await conn.execute(select(logs).where(logs.c.id == log_id))).mappings().first()
            bodies = await log_details.read(conn, log_id) if row is not None else None
    if row is None:
        return render(request, services, "error.html", status=404, code=404, message="This page does not exist.")
    return render(request, services, "logs/detail.html", log=shown(row, services, admin=True), bodies=bodies)


def routes() -> list[Route]:
    return [
        Route("/log", log_list, methods=["GET"]),
        Route("/log/{id:int}", log_detail, methods=["GET"]),
    ]
