"""Redemption-code pages (admin): list, search, copy, enable/disable, delete; create in batches; edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.redemptions import MAX_BATCH, MAX_NAME, code_view
from tollway.console.channels import Paging
from tollway.console.render import Visitor, page, render
from tollway.constants import RedemptionStatus, Role
from tollway.storage import redemptions as code_store

if TYPE_CHECKING:
    from tollway.services import Services


def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text


STATUS_FILTERS = {"enabled": RedemptionStatus.ENABLED, "disabled": RedemptionStatus.DISABLED,
                  "used": RedemptionStatus.USED}
STATUS_BADGES: dict[int, tuple[str, str]] = {
    RedemptionStatus.ENABLED: ("ok", _("Unused")), RedemptionStatus.DISABLED: ("warn", _("Disabled")),
    RedemptionStatus.USED: ("", _("Redeemed")),
}


def _row(view: dict[str, Any]) -> dict[str, Any]:
    badge, text = STATUS_BADGES.get(int(view["status"] or 0), ("", _("Unknown")))
    return {**view, "badge": badge, "status_text": text}


def _quota_context(services: Services) -> dict[str, Any]:
    options = services.cache.options
    return {"quota_per_unit": options.quota_per_unit, "in_currency": options.flag("DisplayInCurrencyEnabled"),
            "max_name": MAX_NAME, "max_batch": MAX_BATCH}


@page(Role.ADMIN)
async def code_list(request: Request, services: Services, seen: Visitor) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    status = request.query_params.get("status", "")
    # The API's search (id, or name prefix) and an optional status filter.
    search, in_status = keyword or None, STATUS_FILTERS.get(status)
    paging = Paging.of(request, await code_store.count_codes(services.engine, search, in_status))
    rows = await code_store.find_codes(services.engine, search, in_status, offset=paging.offset, limit=paging.size)
    return render(request, services, "redemptions/list.html", codes=[_row(code_view(row)) for row in rows],
                  paging=paging, keyword=keyword, status_filter=status)


@page(Role.ADMIN)
async def code_add(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "redemptions/edit.html", code=None, **_quota_context(services))


@page(Role.ADMIN)
async def code_edit(request: Request, services: Services, seen: Visitor) -> Response:
    code_id = int(request.path_params["id"])
    row = await code_store.code_by_id(services.engine, code_id)
    if row is None:
        return render(request, services, "error.html", status=404, code=404,
                      message="This redemption code does not exist.")
    return render(request, services, "redemptions/edit.html", code=_row(code_view(row)), **_quota_context(services))


def routes() -> list[Route]:
    return [
        Route("/redemption", code_list, methods=["GET"]),
        Route("/redemption/add", code_add, methods=["GET"]),
        Route("/redemption/edit/{id:int}", code_edit, methods=["GET"]),
    ]
