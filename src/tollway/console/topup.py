"""Top-up: one's balance, redeeming a code (POST /api/user/topup from the browser) and the external TopUpLink."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.views import log_view
from tollway.console.render import Visitor, page, render
from tollway.constants import Role
from tollway.storage.cache import UserEntry
from tollway.storage.topups import recent_topups
from tollway.storage.users import user_by_id

if TYPE_CHECKING:
    from tollway.services import Services

RECENT = 5


def top_up_url(link: str, user: UserEntry) -> str:
    """One API's TopUpLink with `username`, `user_id` and a fresh `transaction_id` added to its query."""
    link = link.strip()
    if not link.lower().startswith(("https://", "http://")):  # anything else could run script when clicked
        return ""
    parts = urlsplit(link)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("username", user.username),
             ("user_id", str(user.id)), ("transaction_id", str(uuid.uuid4()))]
    return urlunsplit(parts._replace(query=urlencode(query)))


@page(Role.COMMON)
async def topup(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    user, options = seen.user, services.cache.options
    rows = await recent_topups(services.log_engine, user.id, RECENT)
    stored = await user_by_id(services.engine, user.id) or {}
    return render(request, services, "topup/index.html", balance=user.quota.left_now(stored.get("quota")),
                  used=user.used_quota.total_now(stored.get("used_quota")),
                  link=top_up_url(options.text("TopUpLink"), user),
                  recent=[log_view(row, with_id=False) for row in rows],
                  currency=options.flag("DisplayInCurrencyEnabled"), per_unit=options.quota_per_unit)


def routes() -> list[Route]:
    return [Route("/topup", topup, methods=["GET"])]
