"""Sign-in and account binding through GitHub, OIDC, Lark and WeChat (One API's /api/oauth/* routes).

`GET /api/oauth/state` hands the browser a single-use state, stored for every node and bound to this browser's
session; the provider sends the browser back with `code` and `state`, and the front-end page at
`${ServerAddress}/oauth/<provider>` passes both to `GET /api/oauth/<provider>`. A signed-in browser binds the
provider account to its user; otherwise the user signs in, or is registered when RegisterEnabled allows it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import codes, oauth
from tollway.accounts.registration import create_account, email_taken, free_name, user_with
from tollway.accounts.rules import DISPLAY_NAME_MAX
from tollway.accounts.sessions import sign_in
from tollway.admin.envelope import Principal, api, ok, principal_of, public
from tollway.admin.sessions import signed_in_view
from tollway.constants import Role, UserStatus
from tollway.errors import InvalidRequest, PermissionDenied
from tollway.storage import writes

if TYPE_CHECKING:
    from tollway.services import Services

NONCE = "oauth_nonce"  # session key naming this browser for the states it was given


@public
async def state(request: Request, services: Services) -> Response:
    """A new OAuth `state` for this browser (valid 10 minutes, once)."""
    nonce = request.session.get(NONCE)
    if not isinstance(nonce, str) or not nonce:
        nonce = request.session[NONCE] = secrets.token_urlsafe(16)
    value = secrets.token_urlsafe(18)
    await services.accounts.codes.put(codes.OAUTH_STATE, codes.digest(value), value, bound=nonce)
    return ok(value)


async def _check_state(request: Request, services: Services) -> None:
    """The state must be one this browser was given and not used yet; One API answers 403 otherwise."""
    value = request.query_params.get("state", "")
    nonce = request.session.get(NONCE)
    if not value or not isinstance(nonce, str) or not await services.accounts.codes.take(
            codes.OAUTH_STATE, codes.digest(value), value, bound=nonce):
        raise PermissionDenied("state is empty or not same: start the sign-in again")


async def _identity(provider: str, request: Request, services: Services) -> oauth.Identity:
    options, http, code = services.cache.options, services.accounts.http, request.query_params.get("code", "")
    if provider == "github":
        if not options.flag("GitHubOAuthEnabled"):
            raise PermissionDenied("the administrator has not enabled sign-in with GitHub")
        return await oauth.github(http, services.settings, options, code)
    if provider == "oidc":
        if not options.flag("OidcEnabled"):
            raise PermissionDenied("the administrator has not enabled sign-in with OIDC")
        return await oauth.oidc(http, options, services.accounts.oidc, code, oauth.site_address(request, options))
    if provider == "lark":
        # One API has no switch for Lark: it is on when a client id is set.
        if not options.text("LarkClientId").strip():
            raise PermissionDenied("the administrator has not enabled sign-in with Lark")
        return await oauth.lark(http, services.settings, options, code, oauth.site_address(request, options))
    if not options.flag("WeChatAuthEnabled"):
        raise PermissionDenied("the administrator has not enabled sign-in with WeChat")
    return await oauth.wechat(http, options, code)


async def _bind(services: Services, principal: Principal, identity: oauth.Identity, message: str = "bind"
                ) -> Response:
    column, label = oauth.COLUMNS[identity.provider], oauth.LABELS[identity.provider]
    owner = await user_with(services.keeper, column, identity.subject)
    if owner is not None:
        whose = "is already bound to your account" if owner["id"] == principal.id else "is bound to another user"
        raise InvalidRequest(f"this {label} account {whose}")
    await writes.update_user(services.keeper, principal.id, {column: identity.subject})
    return ok(message=message)  # One API answers "bind" to OAuth binds; its pages look for it


async def _sign_in(request: Request, services: Services, identity: oauth.Identity) -> Response:
    column = oauth.COLUMNS[identity.provider]
    row: Mapping[Any, Any] | None = await user_with(services.keeper, column, identity.subject)
    if row is None:
        options = services.cache.options
        if not options.flag("RegisterEnabled"):
            raise PermissionDenied("the administrator has closed registration")
        email = identity.email
        if email and (len(email) > 50 or await email_taken(services.keeper, email)):
            email = ""  # another account has it: two accounts on one address would confuse sign-in and reset
        values = {
            "username": await free_name(services.keeper, identity.username, identity.provider),
            # No password: this account signs in through the provider until its owner sets one.
            "password": "",
            "display_name": identity.display_name[:DISPLAY_NAME_MAX],
            "email": email,
            column: identity.subject,
        }
        row = await create_account(services.keeper, options, values)
    if row["status"] != UserStatus.ENABLED:
        raise PermissionDenied("this account is disabled")
    await sign_in(request, services.accounts.sessions, row)
    return ok(signed_in_view(row))


def _callback(provider: str) -> Route:
    """`GET /api/oauth/<provider>?code&state`: bind when signed in, else sign in or register."""

    @public
    async def endpoint(request: Request, services: Services) -> Response:
        await _check_state(request, services)
        principal = principal_of(request, services) if "id" in request.session else None
        identity = await _identity(provider, request, services)
        if principal is not None:
            return await _bind(services, principal, identity)
        return await _sign_in(request, services, identity)

    return Route(f"/oauth/{provider}", endpoint, methods=["GET"])


@public
async def wechat(request: Request, services: Services) -> Response:
    """`?code=`: the code the WeChat official account gave the user; signs in or registers."""
    return await _sign_in(request, services, await _identity("wechat", request, services))


@api(Role.COMMON)
async def wechat_bind(request: Request, services: Services, principal: Principal) -> Response:
    return await _bind(services, principal, await _identity("wechat", request, services), message="")


def routes() -> list[Route]:
    return [
        Route("/oauth/state", state, methods=["GET"]),
        _callback("github"),
        _callback("oidc"),
        _callback("lark"),
        Route("/oauth/wechat", wechat, methods=["GET"]),
        Route("/oauth/wechat/bind", wechat_bind, methods=["GET"]),
    ]
