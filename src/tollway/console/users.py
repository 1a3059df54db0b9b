"""User pages (admin): list with sort and search, One API's manage actions, add, and edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import rules
from tollway.admin.views import user_view
from tollway.console.channels import Paging
from tollway.console.render import Visitor, page, render
from tollway.constants import Role, UserStatus
from tollway.storage import users as user_store

if TYPE_CHECKING:
    from tollway.services import Services


def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text


ORDER_LABELS = {"": _("Newest first"), "quota": _("Remaining quota"), "used_quota": _("Used quota"),
                "request_count": _("Request count")}
ROLE_NAMES: dict[int, str] = {Role.COMMON: _("Common user"), Role.ADMIN: _("Administrator"), Role.ROOT: _("Root")}
STATUS_BADGES: dict[int, tuple[str, str]] = {UserStatus.ENABLED: ("ok", _("Enabled")),
                                              UserStatus.DISABLED: ("bad", _("Disabled"))}


def outranks(seen: Visitor, role: int) -> bool:
    """One API's rule, as the API applies it: root acts on everyone, an admin on users of a lower role."""
    return seen.role >= Role.ROOT or seen.role > role


def _row(view: dict[str, Any], seen: Visitor) -> dict[str, Any]:
    role = int(view["role"] or 0)
    badge, status = STATUS_BADGES.get(int(view["status"] or 0), ("", _("Unknown")))
    manage = outranks(seen, role)
    return {**view, "role_name": ROLE_NAMES.get(role, _("Unknown")), "badge": badge, "status_text": status,
            "can_edit": manage, "can_toggle": manage and role < Role.ROOT,
            "can_delete": manage and role < Role.ROOT,
            "can_promote": seen.role >= Role.ROOT and role < Role.ADMIN,
            "can_demote": manage and Role.ADMIN <= role < Role.ROOT}


@page(Role.ADMIN)
async def user_list(request: Request, services: Services, seen: Visitor) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    order = request.query_params.get("order", "")
    if order not in user_store.ORDERS:
        order = ""
    # The API's search: id, or username, email or display name prefix; deleted users never show.
    search = keyword or None
    paging = Paging.of(request, await user_store.count_users(services.engine, search))
    rows = await user_store.find_users(services.engine, search, order=order, offset=paging.offset,
                                       limit=paging.size)
    items = [_row(user_view(row, services.cache), seen) for row in rows]
    return render(request, services, "users/list.html", users=items, paging=paging, keyword=keyword, order=order,
                  orders=ORDER_LABELS)


@page(Role.ADMIN)
async def user_add(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "users/add.html", rules=rules)


@page(Role.ADMIN)
async def user_edit(request: Request, services: Services, seen: Visitor) -> Response:
    user_id = int(request.path_params["id"])
    row = await user_store.user_by_id(services.engine, user_id)
    if row is None or row["status"] == UserStatus.DELETED:
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
                  quota_per_unit=options.quota_per_unit, in_currency=options.flag("DisplayInCurrencyEnabled"))


def routes() -> list[Route]:
    return [
        Route("/user", user_list, methods=["GET"]),
        Route("/user/add", user_add, methods=["GET"]),
        Route("/user/edit/{id:int}", user_edit, methods=["GET"]),
    ]
