"""Redemption-code pages (admin): list, search, copy, enable/disable, delete; create in batches; edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, desc, func, or_, select, true
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import keyword_number, like_prefix
from tollway.admin.redemptions import MAX_BATCH, MAX_NAME, code_view
from tollway.console.channels import Paging
from tollway.console.render import ROLE_ADMIN, Visitor, page, render
from tollway.storage import schema, writes

if TYPE_CHECKING:
    from tollway.services import Services

codes = schema.redemptions


def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text

STATUS_FILTERS = {"enabled": writes.CODE_ENABLED, "disabled": writes.CODE_DISABLED, "used": writes.CODE_USED}
STATUS_BADGES = {writes.CODE_ENABLED: ("ok", _("Unused")), writes.CODE_DISABLED: ("warn", _("Disabled")),
                 writes.CODE_USED: ("", _("Redeemed"))}


def _filter(keyword: str, status: str) -> ColumnElement[bool]:
    """The API's search (id, or name prefix) and an optional status filter."""
    match: ColumnElement[bool] = true()
    if keyword:
        match = codes.c.name.like(like_prefix(keyword), escape="\\")
        number = keyword_number(keyword)
        if number is not None:
            match = or_(codes.c.id == number, match)
    if status in STATUS_FILTERS:
        match = match & (codes.c.status == STATUS_FILTERS[status])
    return match


def _row(view: dict[str, Any]) -> dict[str, Any]:
    badge, text = STATUS_BADGES.get(int(view["status"] or 0), ("", _("Unknown")))
    return {**view, "badge": badge, "status_text": text}


def _quota_context(services: Services) -> dict[str, Any]:
    options = services.cache.options
    return {"quota_per_unit": options.quota_per_unit, "in_currency": bool(options["DisplayInCurrencyEnabled"]),
            "max_name": MAX_NAME, "max_batch": MAX_BATCH}


@page(ROLE_ADMIN)
async def code_list(request: Request, services: Services, seen: Visitor) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    status = request.query_params.get("status", "")
    match = _filter(keyword, status)
    async with services.engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(codes).where(match))).scalar_one())
        paging = Paging.of(request, total)
        query = select(codes).where(match).order_by(desc(codes.c.id)).offset(paging.offset).limit(paging.size)
        rows = (await conn.execute(query)).mappings().all()
    return render(request, services, "redemptions/list.html", codes=[_row(code_view(row)) for row in rows],
                  paging=paging, keyword=keyword, status_filter=status)


@page(ROLE_ADMIN)
async def code_add(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "redemptions/edit.html", code=None, **_quota_context(services))


@page(ROLE_ADMIN)
async def code_edit(request: Request, services: Services, seen: Visitor) -> Response:
    code_id = int(request.path_params["id"])
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(codes).where(codes.c.id == code_id))).mappings().first()
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
