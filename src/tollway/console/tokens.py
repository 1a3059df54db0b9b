"""Tokens: one's own relay keys listed, searched, sorted and paged; the form that creates or edits one.

Pages only read; every change goes through /api/token/ from the browser (static/tokens.js and console.js).
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin import tokens as token_api
from tollway.admin.envelope import INT64_MAX
from tollway.admin.views import token_view
from tollway.console.render import Visitor, page, render
from tollway.constants import Role, TokenStatus
from tollway.storage import tokens as token_store

if TYPE_CHECKING:
    from tollway.services import Services

PAGE_SIZES = (10, 20, 50, 100)
ORDERS = ("", *token_store.ORDERS)
NEW_TOKEN_QUOTA = 500_000  # One API's default for a new token: $1 at the default QuotaPerUnit


def _(text: str) -> str:
    """Marks English text for translation; the template translates it when it shows it."""
    return text


def status_of(view: dict[str, Any], now: float) -> tuple[str, str]:
    """The token's state as the relay sees it (label, badge class): an enabled token past its expiry is expired."""
    status = view["status"]
    if status == TokenStatus.ENABLED:
        if view["expired_time"] != -1 and view["expired_time"] <= now:
            return _("Expired"), "bad"
        if not view["unlimited_quota"] and view["remain_quota"] <= 0:
            return _("Used up"), "bad"
        return _("Enabled"), "ok"
    return {TokenStatus.DISABLED: (_("Disabled"), "warn"), TokenStatus.EXPIRED: (_("Expired"), "bad"),
            TokenStatus.EXHAUSTED: (_("Used up"), "bad")}.get(status, (_("Unknown"), ""))


def site_address(request: Request, services: Services) -> str:
    """ServerAddress, or the address this page was opened at (One API's fallback)."""
    return services.cache.options.text("ServerAddress").rstrip("/") or str(request.base_url).rstrip("/")


def chat_links(chat_link: str, site: str, key: str) -> dict[str, str]:
    """One API's links that hand a key to ChatGPT-Next-Web and LobeChat, with the settings JSON URL-encoded."""
    base = chat_link.rstrip("/")
    next_web = json.dumps({"key": key, "url": site}, separators=(",", ":"))
    lobe = json.dumps({"keyVaults": {"openai": {"apiKey": key, "baseURL": f"{site}/v1"}}}, separators=(",", ":"))
    return {"next": f"{base}/#/?settings={quote(next_web, safe='')}",
            "lobe": f"{base}/?settings={quote(lobe, safe='')}"}


def _web_link(value: object) -> str:
    """An option holding a link, if it is an http(s) URL (anything else could run script when clicked)."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def _int(raw: str, default: int, allowed: tuple[int, ...] = ()) -> int:
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if (value in allowed if allowed else value >= 0) else default


@page(Role.COMMON)
async def token_list(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    params = request.query_params
    keyword = params.get("keyword", "").strip()
    order = params.get("order", "") if params.get("order", "") in ORDERS else ""
    size = _int(params.get("size", ""), PAGE_SIZES[0], PAGE_SIZES)
    number = _int(params.get("p", ""), 0)
    prefix = keyword or None  # a name prefix, as GET /api/token/search matches
    total = await token_store.count_own_tokens(services.engine, seen.user.id, prefix)
    pages = max(1, math.ceil(total / size))
    number = min(number, pages - 1)
    rows = await token_store.own_tokens(services.engine, seen.user.id, prefix, order=order, offset=number * size,
                                        limit=size)
    now = time.time()
    chat = _web_link(services.cache.options.text("ChatLink"))
    site = site_address(request, services)
    items = []
    for row in rows:
        view = token_view(row, services.cache)
        key = "sk-" + view["key"]
        label, badge = status_of(view, now)
        items.append({**view, "sk": key, "masked": f"sk-{view['key'][:4]}****{view['key'][-4:]}",
                      "state": label, "badge": badge, "models": [m for m in view["models"].split(",") if m],
                      "subnets": [s for s in view["subnet"].split(",") if s],
                      "chat": chat_links(chat, site, key) if chat else {}})

    def page_url(to: int) -> str:
        kept = {"keyword": keyword, "order": order, "size": str(size) if size != PAGE_SIZES[0] else ""}
        return "/token?" + urlencode({**{k: v for k, v in kept.items() if v}, "p": to})

    return render(request, services, "tokens/list.html", tokens=items, keyword=keyword, order=order, size=size,
                  sizes=PAGE_SIZES, number=number, pages=pages, total=total, page_url=page_url)


async def _form(request: Request, services: Services, seen: Visitor, token: dict[str, Any] | None) -> Response:
    assert seen.user is not None
    options = services.cache.options
    available = services.routes.table.models(seen.user.group)
    return render(request, services, "tokens/edit.html", token=token, available=available,
                  new_quota=NEW_TOKEN_QUOTA, currency=options.flag("DisplayInCurrencyEnabled"),
                  per_unit=options.quota_per_unit, name_max=token_api.NAME_MAX)


@page(Role.COMMON)
async def token_add(request: Request, services: Services, seen: Visitor) -> Response:
    return await _form(request, services, seen, None)


@page(Role.COMMON)
async def token_edit(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    token_id = int(request.path_params["id"])
    row = None
    if token_id <= INT64_MAX:
        row = await token_store.own_token(services.engine, seen.user.id, token_id)
    if row is None:  # another user's token is as absent as a deleted one
        return render(request, services, "error.html", status=404, code=404, message="This page does not exist.")
    return await _form(request, services, seen, token_view(row, services.cache))


def routes() -> list[Route]:
    return [
        Route("/token", token_list, methods=["GET"]),
        Route("/token/add", token_add, methods=["GET"]),
        Route("/token/edit/{id:int}", token_edit, methods=["GET"]),
    ]
