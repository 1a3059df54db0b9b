"""User pages (admin): list with sort and search, One API's manage actions, add, and edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, desc, func, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import rules
from tollway.admin.envelope import USER_DELETED, keyword_number, like_prefix
from tollway.admin.views import user_view
from tollway.console.channels import Paging
from tollway.console.render import ROLE_ADMIN, ROLE_ROOT, Visitor, page, render
from tollway.storage import schema

if TYPE_CHECKING:
    from tollway.services import Services

users = schema.users


def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text

ORDERS = {"quota": users.c.quota, "used_quota": users.c.used_quota, "request_count": users.c.request_count}
ORDER_LABELS = {"": _("Newest first"), "quota": _("Remaining quota"), "used_quota": _("Used quota"),
                "request_count": _("Request count")}
ROLE_NAMES = {1: _("Common user"), 10: _("Administrator"), 100: _("Root")}
STATUS_BADGES = {1: ("ok", _("Enabled")), 2: ("bad", _("Disabled"))}


def _filter(keyword: str) -> ColumnElement[bool]:
    """The API's search: id, or username, email or display name prefix; deleted users never show."""
    match = users.c.status != USER_DELETED
    if keyword:
        pattern = like_prefix(keyword)
        found: ColumnElement[bool] = or_(users.c.username.like(pattern, escape="\\"),
                                         users.c.email.like(pattern, escape="\\"),
                                         users.c.display_name.like(pattern, escape="\\"))
        number = keyword_number(keyword)
        if number is not None:
            found = or_(users.c.id == number, found)
        match = match & found
    return match


def outranks(seen: Visitor, role: int) -> bool:
    """One API's rule, as the API applies it: root acts on everyone, an admin on users of a lower role."""
    return seen.role >= ROLE_ROOT or seen.role > role


def _row(view: dict[str, Any], seen: Visitor) -> dict[str, Any]:
    role = int(view["role"] or 0)
    badge, status = STATUS_BADGES.get(int(view["status"] or 0), ("", _("Unknown")))
    manage = outranks(seen, role)
    return {**view, "role_name": ROLE_NAMES.get(role, _("Unknown")), "badge": badge, "status_text": status,
            "can_edit": manage, "can_toggle": manage and role < ROLE_ROOT,
            "can_delete": manage and role < ROLE_ROOT,
            "can_promote": seen.role >= ROLE_ROOT and role < ROLE_ADMIN,
            "can_demote": manage and ROLE_ADMIN <= role < ROLE_ROOT}


@page(ROLE_ADMIN)
async def user_list(request: Request, services: Services, seen: Visitor) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    order = request.query_params.get("order", "")
    if order not in ORDERS:
        order = ""
    match = _filter(keyword)
    async with services.engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(users).where(match))).scalar_one())
        paging = Paging.of(request, total)
        query = (select(users).where(match).order_by(desc(ORDERS.get(order, users.c.id)), desc(users.c.id))
                 .offset(paging.offset).limit(paging.size))
        rows = (await conn.execute(query)).mappings().all()
    items = [_row(user_view(row, services.cache), seen) for row in rows]
    return render(request, services, "users/list.html", users=items, paging=paging, keyword=keyword, order=order,
                  orders=ORDER_LABELS)


@page(ROLE_ADMIN)
async def user_add(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "users/add.html", rules=rules)


@page(ROLE_ADMIN)
async def user_edit(request: Request, services: Services, seen: Visitor) -> Response:
    user_id = int(request.path_params["id"])
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    if row is None or row["status"] == USER_DELETED:
        return render(request, services, "error.html", status=404, code=404, message="This user does not exist.")
    if not outranks(seen, int(row["role"] or 0)):
        return render(request, services, "error.html", status=403, code=403,
                      message="You cannot view or change a user of the same or a higher role.")
    view = _row(user_view(row, services.cache), seen)
    options = services.cache.options
    groups = list(options.group_ratio)
    if view["group"] and view["group"] not in groups:
        groups.append(view["group"])
    return render(request, services, "users/edit.html", target=view, groups=groups, rules=rules,
                  quota_per_unit=options.quota_per_unit, in_currency=bool(options["DisplayInCurrencyEnabled"]))


def routes() -> list[Route]:
    return [
        Route("/user", user_list, methods=["GET"]),
        Route("/user/add", user_add, methods=["GET"]),
        Route("/user/edit/{id:int}", user_edit, methods=["GET"]),
    ]
