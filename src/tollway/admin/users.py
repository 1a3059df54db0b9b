"""User administration (admin and root): list, search, read, create, update, delete, manage, top up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import rules
from tollway.accounts.passwords import hash_password_async
from tollway.accounts.registration import create_account
from tollway.admin import names
from tollway.admin.envelope import INT64_MAX, MAX_PAGE_SIZE, Principal, api, field, ok, page, path_id, read_json
from tollway.admin.sessions import ensure_free_username, save_user, soft_delete
from tollway.admin.views import user_view
from tollway.constants import LogType, Role, UserStatus
from tollway.errors import InvalidRequest, PermissionDenied
from tollway.storage import users as user_store
from tollway.storage import writes

if TYPE_CHECKING:
    from tollway.services import Services


async def load(services: Services, user_id: int) -> dict[str, Any]:
    """A user row that is not deleted, or InvalidRequest."""
    row = await user_store.user_by_id(services.engine, user_id)
    if row is None or row["status"] == UserStatus.DELETED:
        raise InvalidRequest(f"user {user_id} not found")
    return dict(row)


def _outranks(principal: Principal, target_role: int) -> None:
    """One API's rule: an admin acts only on users of a lower role; root acts on everyone."""
    if not principal.is_root and principal.role <= target_role:
        raise PermissionDenied("you cannot view or change a user of the same or a higher role")


@api(Role.ADMIN)
async def list_users(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await user_store.find_users(services.engine, order=request.query_params.get("order", ""), offset=offset,
                                       limit=limit)
    return ok([user_view(row, services.cache) for row in rows])


@api(Role.ADMIN)
async def search_users(request: Request, services: Services, principal: Principal) -> Response:
    """By id, or by username, email or display name prefix (One API's SearchUsers)."""
    keyword = request.query_params.get("keyword", "").strip()
    rows = await user_store.find_users(services.engine, keyword, limit=MAX_PAGE_SIZE)
    return ok([user_view(row, services.cache) for row in rows])


@api(Role.ADMIN)
async def get_user(request: Request, services: Services, principal: Principal) -> Response:
    row = await load(services, path_id(request))
    _outranks(principal, row["role"])
    return ok(user_view(row, services.cache))


@api(Role.ADMIN)
async def create_user(request: Request, services: Services, principal: Principal) -> Response:
    """Create a common user; like One API, a role at or above the caller's is refused and a lower one ignored."""
    data = await read_json(request, services)
    name = rules.username(data.get("username"))
    password = rules.password(data.get("password"))
    display_name = rules.display_name(data.get("display_name")) or name
    role = field(data, "role", int, default=Role.COMMON)
    if role >= principal.role:
        raise PermissionDenied("you cannot create a user with a role equal to or above your own")
    await ensure_free_username(services, name)
    # One API's User.Insert serves both sign-up and this route: the new-user gift and the default token too.
    row = await create_account(services.keeper, services.cache.options, {
        "username": name, "password": await hash_password_async(password), "display_name": display_name,
    })
    return ok(user_view(row, services.cache))


@api(Role.ADMIN)
async def update_user(request: Request, services: Services, principal: Principal) -> Response:
    """Update a lower-role user; a quota change is written to the logs as a manage entry."""
    data = await read_json(request, services)
    user_id = field(data, "id", int)
    if not user_id:
        raise InvalidRequest("id is required")
    origin = await load(services, user_id)
    _outranks(principal, origin["role"])
    values: dict[str, Any] = {}
    if data.get("username") not in (None, "", origin["username"]):
        values["username"] = rules.username(data["username"])
        await ensure_free_username(services, values["username"], user_id)
    if "display_name" in data:
        values["display_name"] = rules.display_name(data["display_name"])
    password = data.get("password")
    if password not in (None, "", "$I_LOVE_U"):
        values["password"] = rules.password(password)
    for name in ("email", "github_id", "wechat_id", "lark_id", "oidc_id"):
        if name in data:
            values[name] = str(field(data, name, str, default=""))
    if "group" in data:
        group = names.name(field(data, "group", str, default=""), "group").strip()
        if not group or len(group) > 32:
            raise InvalidRequest("group must be 1-32 characters")
        known = services.cache.options.group_ratio
        # Groups are the keys of GroupRatio (as /api/group lists them); a typo would silently leave the user
        # without channels. A user already in a group that GroupRatio no longer lists keeps it.
        if group not in known and group != origin["group"]:
            raise InvalidRequest(f"group {group!r} is not in GroupRatio (groups: {', '.join(sorted(known))})")
        values["group"] = group
    if "role" in data:
        role = field(data, "role", int)
        if role not in (Role.COMMON, Role.ADMIN, Role.ROOT):
            raise InvalidRequest("role must be 1 (common), 10 (admin) or 100 (root)")
        if not principal.is_root and role >= principal.role:
            raise PermissionDenied("you cannot give a user a role equal to or above your own")
        if role != origin["role"] and not principal.is_root:
            raise PermissionDenied("only root changes roles (use promote or demote)")
        values["role"] = role
    quota = field(data, "quota", int)
    live = services.cache.users.get(user_id)
    current_quota = live.quota.left_now(origin["quota"]) if live else int(origin["quota"] or 0)
    if quota is not None and quota != current_quota:
        if quota < 0:
            raise InvalidRequest("quota must not be negative")
        values["quota"] = quota
    if "password" in values:  # hashed last, once everything else is known to be valid
        values["password"] = await hash_password_async(values["password"])
    row = await save_user(services, user_id, values)
    if "password" in values:
        await services.accounts.sessions.end_user(user_id)
    if "quota" in values:
        await writes.write_log(services.keeper, user_id=user_id, username=row["username"], kind=LogType.MANAGE,
                               content=f"admin {principal.username} changed quota from {current_quota} to {quota}")
    return ok(user_view(row, services.cache))


@api(Role.ADMIN)
async def delete_user(request: Request, services: Services, principal: Principal) -> Response:
    row = await load(services, path_id(request))
    if principal.role <= row["role"]:
        raise PermissionDenied("you cannot delete a user of the same or a higher role")
    await soft_delete(services, row["id"])
    return ok()


@api(Role.ADMIN)
async def manage_user(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{username, action}`: disable, enable, delete, promote (root only) or demote."""
    data = await read_json(request, services)
    name, action = field(data, "username", str, default=""), field(data, "action", str, default="")
    row = await user_store.active_user_by_name(services.engine, name)
    if row is None:
        raise InvalidRequest(f"user {name!r} not found")
    _outranks(principal, row["role"])
    values: dict[str, Any]
    if action == "disable":
        if row["role"] >= Role.ROOT:
            raise PermissionDenied("the root user cannot be disabled")
        values = {"status": UserStatus.DISABLED}
    elif action == "enable":
        values = {"status": UserStatus.ENABLED}
    elif action == "delete":
        if row["role"] >= Role.ROOT:
            raise PermissionDenied("the root user cannot be deleted")
        await soft_delete(services, row["id"])
        return ok()
    elif action == "promote":
        if not principal.is_root:
            raise PermissionDenied("only root can promote users")
        if row["role"] >= Role.ADMIN:
            raise InvalidRequest("this user is already an administrator")
        values = {"role": Role.ADMIN}
    elif action == "demote":
        if row["role"] >= Role.ROOT:
            raise PermissionDenied("the root user cannot be demoted")
        if row["role"] == Role.COMMON:
            raise InvalidRequest("this user is already a common user")
        values = {"role": Role.COMMON}
    else:
        raise InvalidRequest("action must be one of disable, enable, delete, promote, demote")
    updated = await writes.update_user(services.keeper, row["id"], values)
    if action == "disable":
        await services.accounts.sessions.end_user(row["id"])
    return ok({"role": updated["role"], "status": updated["status"]})


@api(Role.ADMIN)
async def top_up(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{user_id, quota, remark}`: add quota to a user and log it as a top-up (One API's AdminTopUp)."""
    data = await read_json(request, services)
    user_id, quota = field(data, "user_id", int), field(data, "quota", int)
    if not user_id or not quota:
        raise InvalidRequest("user_id and a non-zero quota are required")
    row = await load(services, user_id)
    live = services.cache.users.get(user_id)
    balance = live.quota.left_now(row["quota"]) if live else int(row["quota"] or 0)
    if quota < 0 and balance - (live.quota.held if live else 0) + quota < 0:
        raise InvalidRequest("the top-up would make the user's quota negative")
    if balance + quota > INT64_MAX:
        raise InvalidRequest("the top-up would make the user's quota larger than the database can hold")
    updated = await writes.add_user_quota(services.keeper, user_id, quota)
    remark = str(data.get("remark") or "")
    await writes.write_log(services.keeper, user_id=user_id, username=updated["username"], kind=LogType.TOPUP,
                           quota=quota, content=f"admin {principal.username} topped up {quota}"
                           + (f": {remark}" if remark else ""))
    return ok()


def routes() -> list[Route]:
    return [
        Route("/user/", list_users, methods=["GET"]),
        Route("/user/search", search_users, methods=["GET"]),
        Route("/user/manage", manage_user, methods=["POST"]),
        Route("/user/{id:int}", get_user, methods=["GET"]),
        Route("/user/{id:int}", delete_user, methods=["DELETE"]),
        Route("/user/", create_user, methods=["POST"]),
        Route("/user/", update_user, methods=["PUT"]),
        Route("/topup", top_up, methods=["POST"]),
    ]
