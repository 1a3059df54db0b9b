"""Public system information (`/api/status`, notice, about, home page) and the model and group lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway import __version__
from tollway.admin.envelope import Principal, api, ok, public
from tollway.constants import Role
from tollway.routing import model_lists

if TYPE_CHECKING:
    from tollway.options import Text
    from tollway.services import Services


# One API's web UI shows "new version available" whenever `version` differs from the version it was built as, except
# for "v0.0.0" (what an untagged One API build reports); Tollway's own version has a field of its own.
ONE_API_UI_VERSION = "v0.0.0"


@public
async def status(request: Request, services: Services) -> Response:
    """One API's `GetStatus` fields, so existing front-ends and health checks keep working."""
    o = services.cache.options
    return ok({
        "version": ONE_API_UI_VERSION,
        "tollway_version": __version__,
        "start_time": services.started_at,
        "email_verification": o["EmailVerificationEnabled"],
        "github_oauth": o["GitHubOAuthEnabled"],
        "github_client_id": o["GitHubClientId"],
        "lark_client_id": o["LarkClientId"],
        "system_name": o["SystemName"],
        "logo": o["Logo"],
        "footer_html": o["Footer"],
        "wechat_qrcode": o["WeChatAccountQRCodeImageURL"],
        "wechat_login": o["WeChatAuthEnabled"],
        "server_address": o["ServerAddress"],
        "turnstile_check": o["TurnstileCheckEnabled"],
        "turnstile_site_key": o["TurnstileSiteKey"],
        "top_up_link": o["TopUpLink"],
        "chat_link": o["ChatLink"],
        "quota_per_unit": o.quota_per_unit,
        "display_in_currency": o["DisplayInCurrencyEnabled"],
        "oidc": o["OidcEnabled"],
        "oidc_client_id": o["OidcClientId"],
        "oidc_well_known": o["OidcWellKnown"],
        "oidc_authorization_endpoint": o["OidcAuthorizationEndpoint"],
        "oidc_token_endpoint": o["OidcTokenEndpoint"],
        "oidc_userinfo_endpoint": o["OidcUserinfoEndpoint"],
        "password_login": o["PasswordLoginEnabled"],
        "register_enabled": o["RegisterEnabled"] and o["PasswordRegisterEnabled"],
    })


def _option_text(path: str, key: Text) -> Route:
    """A public route answering one text option (notice, about, home page content)."""

    @public
    async def endpoint(request: Request, services: Services) -> Response:
        return ok(services.cache.options.text(key))

    return Route(path, endpoint, methods=["GET"])


@api(Role.COMMON)
async def models_by_type(request: Request, services: Services, principal: Principal) -> Response:
    """Default models of every channel type, keyed by type number (prefills the channel form)."""
    return ok({str(type_id): model_lists.default_models(type_id) for type_id in range(0, 52)})


@api(Role.ADMIN)
async def groups(request: Request, services: Services, principal: Principal) -> Response:
    """Group names: the keys of GroupRatio."""
    return ok(list(services.cache.options.group_ratio))


def routes() -> list[Route]:
    return [
        Route("/status", status, methods=["GET"]),
        _option_text("/notice", "Notice"),
        _option_text("/about", "About"),
        _option_text("/home_page_content", "HomePageContent"),
        Route("/models", models_by_type, methods=["GET"]),
        Route("/group/", groups, methods=["GET"]),
    ]
