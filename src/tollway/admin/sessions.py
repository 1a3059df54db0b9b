"""Signing in and out, and what a signed-in user may do to their own account."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import keys, rules
from tollway.accounts.passwords import check_password, hash_password_async, needs_rehash
from tollway.accounts.sessions import sign_in, sign_out
from tollway.admin.envelope import Principal, api, ok, public, read_json, said
from tollway.admin.views import user_view
from tollway.constants import Role, UserStatus
from tollway.errors import InvalidRequest, PermissionDenied
from tollway.storage import users as user_store
from tollway.storage import writes

if TYPE_CHECKING:
    from tollway.services import Services

WEAK_PASSWORD = "weak_password"  # session flag read by the console's banner
WEAK_PASSWORD_NOTICE = ("signed in, but this password is weak (One API's default 123456, a common password or "
                        "the username): change it now under Settings")


@public
async def login(request: Request, services: Services) -> Response:
    """Body `{username, password}`; the username may also be the account's email."""
    if not services.cache.options.flag("PasswordLoginEnabled"):
        raise PermissionDenied("password sign-in is turned off by the administrator")
    data = await read_json(request, services)
    name, secret = data.get("username"), data.get("password")
    if not isinstance(name, str) or not isinstance(secret, str) or not name or not secret:
        raise InvalidRequest("username and password are required")
    row = await user_store.user_for_sign_in(services.engine, name)
    # An unknown name costs as much time as a wrong password, so timing does not reveal which names exist.
    if not await check_password(row["password"] if row is not None else None, secret) or row is None:
        raise InvalidRequest("wrong username or password")
    if row["status"] != UserStatus.ENABLED:
        raise PermissionDenied("this account is disabled")
    if needs_rehash(row["password"]):
        # One API stored bcrypt; upgrade to Argon2id now that the plain password is at hand.
        await user_store.store_rehashed_password(services.engine, row["id"], await hash_password_async(secret))
    await sign_in(request, services.accounts.sessions, row)
    if rules.weak_password(secret, row["username"]):
        # The password keeps working (switching from One API must lock nobody out), but the console shows a banner
        # for this session and every sign-in says so, until the password is changed.
        request.session[WEAK_PASSWORD] = True
        return ok({**signed_in_view(row), "weak_password": True}, message=said(request, WEAK_PASSWORD_NOTICE))
    return ok(signed_in_view(row))


def signed_in_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """What a sign-in answers: One API's cleaned user (no email, quota or secrets)."""
    return {"id": row["id"], "username": row["username"], "display_name": row["display_name"] or "",
            "role": row["role"], "status": row["status"], "group": row["group"]}


@public
async def logout(request: Request, services: Services) -> Response:
    """End this browser's session on every node (not only its cookie)."""
    await sign_out(request, services.accounts.sessions)
    return ok()


async def _row(services: Services, user_id: int) -> dict[str, object]:
    row = await user_store.user_by_id(services.engine, user_id)
    if row is None:
        raise InvalidRequest("user not found")
    return dict(row)


@api(Role.COMMON)
async def get_self(request: Request, services: Services, principal: Principal) -> Response:
    return ok(user_view(await _row(services, principal.id), services.cache))


@api(Role.COMMON)
async def update_self(request: Request, services: Services, principal: Principal) -> Response:
    """Change one's own username, display name or password."""
    data = await read_json(request, services)
    values: dict[str, object] = {}
    if "username" in data and data["username"] not in (None, "", principal.username):
        values["username"] = rules.username(data["username"])
        await ensure_free_username(services, str(values["username"]), principal.id)
    if "display_name" in data:
        values["display_name"] = rules.display_name(data["display_name"])
    # One API's front-end sends this placeholder when the password field was left alone.
    if data.get("password") not in (None, "", "$I_LOVE_U"):
        values["password"] = await hash_password_async(rules.password(data["password"]))
    row = await save_user(services, principal.id, values)
    if "username" in values and "id" in request.session:
        request.session["username"] = row["username"]
    if "password" in values:
        if "id" in request.session:
            request.session[WEAK_PASSWORD] = rules.weak_password(str(data["password"]), row["username"])
        # Whoever else holds a session of this account (a stolen cookie, a forgotten device) is signed out.
        await services.accounts.sessions.end_user(principal.id, keep=request.session.get("sid"))
    return ok(user_view(row, services.cache))


@api(Role.COMMON)
async def delete_self(request: Request, services: Services, principal: Principal) -> Response:
    if principal.role >= Role.ROOT:
        raise PermissionDenied("the root account cannot be deleted")
    await soft_delete(services, principal.id)
    request.session.clear()
    return ok()


@api(Role.COMMON)
async def access_token(request: Request, services: Services, principal: Principal) -> Response:
    """Make a new management access token (the old one stops working) and return it."""
    token = keys.access_token()
    await writes.update_user(services.keeper, principal.id, {"access_token": token})
    return ok(token)


@api(Role.COMMON)
async def aff_code(request: Request, services: Services, principal: Principal) -> Response:
    row = await _row(services, principal.id)
    code = row["aff_code"]
    if not code:
        code = keys.aff_code()
        while await user_store.aff_code_taken(services.engine, code):
            code = keys.aff_code()
        await writes.update_user(services.keeper, principal.id, {"aff_code": code})
    return ok(code)


@api(Role.COMMON)
async def available_models(request: Request, services: Services, principal: Principal) -> Response:
    user = services.cache.users[principal.id]
    return ok(services.routes.table.models(user.group))


async def ensure_free_username(services: Services, name: str, own_id: int = 0) -> None:
    if await user_store.username_taken(services.engine, name, except_user=own_id):
        raise InvalidRequest(f"username {name} is already taken")


async def save_user(services: Services, user_id: int, values: dict[str, object]) -> Mapping[Any, Any]:
    """Update a user; a username taken meanwhile by a concurrent request is refused like any taken name."""
    try:
        return await user_store.update_unless_taken(services.keeper, user_id, values)
    except user_store.UsernameTaken as exc:
        raise InvalidRequest(f"username {values.get('username')} is already taken") from exc


async def soft_delete(services: Services, user_id: int) -> None:
    """One API's soft delete: status 3 and the username freed as deleted_<uuid>; every session of the user ends."""
    await writes.update_user(services.keeper, user_id, {
        "status": UserStatus.DELETED, "username": f"deleted_{uuid.uuid4().hex}", "access_token": None,
    })
    await services.accounts.sessions.end_user(user_id)


def routes() -> list[Route]:
    return [
        Route("/user/login", login, methods=["POST"]),
        Route("/user/logout", logout, methods=["GET"]),
        Route("/user/self", get_self, methods=["GET"]),
        Route("/user/self", update_self, methods=["PUT"]),
        Route("/user/self", delete_self, methods=["DELETE"]),
        Route("/user/token", access_token, methods=["GET"]),
        Route("/user/aff", aff_code, methods=["GET"]),
        Route("/user/available_models", available_models, methods=["GET"]),
    ]
