"""Logs: one's own (admins: everyone's) filtered like GET /api/log/ and paged, their quota sum, one call in full."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import INT64_MAX, page
from tollway.admin.logs import log_filter
from tollway.admin.views import log_view
from tollway.console.render import Visitor, render
from tollway.console.render import page as console_page
from tollway.constants import LogType, Role
from tollway.errors import InvalidRequest
from tollway.storage.log_queries import LogFilter, consume_quota_sum, log_page, log_with_bodies
from tollway.storage.tokens import own_token_names

if TYPE_CHECKING:
    from tollway.services import Services

PAGE_SIZES = (10, 20, 50, 100)
FILTERS = ("type", "start_timestamp", "end_timestamp", "token_name", "model_name", "username", "channel", "size")


def _(text: str) -> str:
    """Marks English text for translation; the template translates it when it shows it."""
    return text


# One API's log types (model/log.go) with their badge; 0 means every type in a filter.
TYPES: dict[int, tuple[str, str]] = {
    LogType.TOPUP: (_("Top-up"), "ok"), LogType.CONSUME: (_("Consume"), ""), LogType.MANAGE: (_("Manage"), "warn"),
    LogType.SYSTEM: (_("System event"), ""), LogType.TEST: (_("Test"), ""), LogType.ERROR: (_("Error"), "bad"),
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


@console_page(Role.COMMON)
async def log_list(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    admin = seen.role >= Role.ADMIN
    own = None if admin else seen.user.id
    invalid = False
    try:  # the API's own filters and paging, so the page lists exactly what GET /api/log/(self) answers
        where = log_filter(request, own_user=own)
        summed = log_filter(request, own_user=own, by_type=False)
        offset, size = page(request)
    except InvalidRequest:
        invalid = True
        where = summed = LogFilter(user_id=own)
        offset, size = 0, PAGE_SIZES[0]
    number = offset // size
    if size not in PAGE_SIZES:  # the page offers these sizes only
        size = PAGE_SIZES[0]
    offset = number * size
    # One more row than shown tells whether a next page exists without counting millions of logs.
    rows = await log_page(services.log_engine, where, offset, size + 1)
    quota_sum = await consume_quota_sum(services.log_engine, summed)
    token_names = await own_token_names(services.engine, seen.user.id)
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


@console_page(Role.ADMIN)
async def log_detail(request: Request, services: Services, seen: Visitor) -> Response:
    log_id = int(request.path_params["id"])
    row = bodies = None
    if log_id <= INT64_MAX:
        row, bodies = await log_with_bodies(services.log_engine, log_id)
    if row is None:
        return render(request, services, "error.html", status=404, code=404, message="This page does not exist.")
    return render(request, services, "logs/detail.html", log=shown(row, services, admin=True), bodies=bodies)


def routes() -> list[Route]:
    return [
        Route("/log", log_list, methods=["GET"]),
        Route("/log/{id:int}", log_detail, methods=["GET"]),
    ]
