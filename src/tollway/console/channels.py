"""Channel pages (admin): the list with tests, balances and inline priority/weight, and the add/edit form."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.views import channel_view
from tollway.console import channel_forms
from tollway.console.render import Visitor, page, render
from tollway.constants import ChannelStatus, Role
from tollway.routing import channel_types
from tollway.storage.channel_queries import ChannelFilter, channel_by_id, channel_count, channel_page

if TYPE_CHECKING:
    from tollway.services import Services

def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text

PAGE_SIZE = 20
STATUS_FILTERS: dict[str, tuple[int, ...]] = {"enabled": (ChannelStatus.ENABLED,),
                                               "disabled": (ChannelStatus.DISABLED, ChannelStatus.AUTO_DISABLED)}
STATUS_BADGES: dict[int, tuple[str, str]] = {
    ChannelStatus.ENABLED: ("ok", _("Enabled")), ChannelStatus.DISABLED: ("warn", _("Disabled")),
    ChannelStatus.AUTO_DISABLED: ("bad", _("Disabled automatically"))}
CURRENCY_SIGNS = {"USD": "$", "CNY": "¥"}


@dataclass(frozen=True)
class Paging:
    """One page of a list: which page (from 1), how many rows in all, and links that keep the other filters."""

    number: int
    size: int
    total: int
    query: dict[str, str]
    path: str

    @classmethod
    def of(cls, request: Request, total: int, size: int = PAGE_SIZE) -> Paging:
        query = {k: v for k, v in request.query_params.items() if k != "p" and v}
        pages = max(1, -(-total // size))
        try:
            number = int(request.query_params.get("p") or 1)
        except ValueError:
            number = 1
        return cls(min(max(1, number), pages), size, total, query, request.url.path)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def url(self, number: int) -> str:
        query = {**self.query, "p": str(number)} if number > 1 else self.query
        return f"{self.path}?{urlencode(query)}" if query else self.path

    @property
    def prev_url(self) -> str:
        return self.url(self.number - 1) if self.number > 1 else ""

    @property
    def next_url(self) -> str:
        return self.url(self.number + 1) if self.number < self.pages else ""


def _filter(keyword: str, status: str) -> ChannelFilter:
    """The API's search (id, or name prefix) and an optional status filter."""
    return ChannelFilter(keyword=keyword or None, statuses=STATUS_FILTERS.get(status, ()))


def when(unix: int | float) -> str:
    """A time as the list shows it (the server's local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix)) if unix else ""


def _row(view: dict[str, Any], cooling: list[dict[str, Any]]) -> dict[str, Any]:
    """A channel as the list shows it, with the pairs of it that step aside."""
    kind = channel_types.get(int(view["type"] or 0))
    badge, status = STATUS_BADGES.get(int(view["status"] or 0), ("", _("Unknown")))
    models = [m for m in (view["models"] or "").split(",") if m]
    return {**view, "type_label": kind.label, "badge": badge, "status_text": status, "model_list": models,
            "status_when": when(view["status_time"]), "cooling": [p for p in cooling if p["channel_id"] == view["id"]],
            "groups": [g for g in (view["group"] or "default").split(",") if g],
            "balance_supported": bool(kind.balance_currency),
            "currency": CURRENCY_SIGNS.get(kind.balance_currency, "$")}


@page(Role.ADMIN)
async def channel_list(request: Request, services: Services, seen: Visitor) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    status = request.query_params.get("status", "")
    match = _filter(keyword, status)
    paging = Paging.of(request, await channel_count(services.engine, match))
    rows = await channel_page(services.engine, paging.offset, paging.size, match)
    health = services.guards.health.view()
    cooling = [{**pair, "since_text": when(pair["since"]), "until_text": when(pair["until"])}
               for pair in health["cooling"]]
    items = [_row(channel_view(row, services.cache, services.keybox), cooling) for row in rows]
    run = await services.operations.tester.status()
    try:
        added = int(request.query_params.get("added") or 0)
    except ValueError:
        added = 0
    return render(request, services, "channels/list.html", channels=items, paging=paging, keyword=keyword,
                  status_filter=status, run=run if run["started_at"] else None, added=added, cooling=cooling,
                  saved=request.query_params.get("saved") == "1",
                  disabled_count=sum(1 for c in services.cache.channels.values() if c.status != ChannelStatus.ENABLED))


@page(Role.ADMIN)
async def channel_add(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "channels/edit.html", **channel_forms.context(services, None, seen.language))


@page(Role.ADMIN)
async def channel_edit(request: Request, services: Services, seen: Visitor) -> Response:
    channel_id = int(request.path_params["id"])
    row = await channel_by_id(services.engine, channel_id)
    if row is None:
        return render(request, services, "error.html", status=404, code=404, message="This channel does not exist.")
    view = channel_view(row, services.cache, services.keybox)
    return render(request, services, "channels/edit.html", **channel_forms.context(services, view, seen.language))


def routes() -> list[Route]:
    return [
        Route("/channel", channel_list, methods=["GET"]),
        Route("/channel/add", channel_add, methods=["GET"]),
        Route("/channel/edit/{id:int}", channel_edit, methods=["GET"]),
    ]
