"""Pages anyone may open: home, about, sign-in, registration, password reset, OAuth callbacks, language."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tollway.console import i18n
from tollway.console.providers import base_url as _base_url
from tollway.console.providers import oauth_buttons as _oauth_buttons
from tollway.console.render import Visitor, page, render
from tollway.constants import Role

if TYPE_CHECKING:
    from tollway.services import Services

_PROVIDERS = {"github": "GitHub", "oidc": "OIDC", "lark": "Lark"}


def _url_or_text(value: str) -> tuple[str, str]:
    """One API shows an https URL option in a frame and anything else as Markdown."""
    return (value, "") if value.startswith("https://") else ("", value)


@page()
async def home(request: Request, services: Services, seen: Visitor) -> Response:
    options = services.cache.options
    home_url, home_content = _url_or_text(options.text("HomePageContent"))
    return render(request, services, "home.html", notice=options.text("Notice"), home_url=home_url,
                  home_content=home_content, base_url=_base_url(request, services), started=services.started_at,
                  register_enabled=options.flag("RegisterEnabled") and options.flag("PasswordRegisterEnabled"))


@page()
async def about(request: Request, services: Services, seen: Visitor) -> Response:
    about_url, about = _url_or_text(services.cache.options.text("About"))
    return render(request, services, "about.html", about_url=about_url, about=about)


def _auth_context(services: Services) -> dict[str, Any]:
    options = services.cache.options
    return {
        "password_login": options.flag("PasswordLoginEnabled"),
        "register_enabled": options.flag("RegisterEnabled") and options.flag("PasswordRegisterEnabled"),
        "email_verification": options.flag("EmailVerificationEnabled"),
        "turnstile_site_key": options.text("TurnstileSiteKey") if options.flag("TurnstileCheckEnabled") else "",
        "wechat": options.flag("WeChatAuthEnabled"),
        "wechat_qrcode": options.text("WeChatAccountQRCodeImageURL"),
    }


@page()
async def login(request: Request, services: Services, seen: Visitor) -> Response:
    if seen.user is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return render(request, services, "login.html", oauth=await _oauth_buttons(request, services),
                  **_auth_context(services))


@page()
async def register(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "register.html", aff=request.query_params.get("aff", ""),
                  **_auth_context(services))


@page()
async def reset(request: Request, services: Services, seen: Visitor) -> Response:
    """Ask for a reset link, or (from the emailed link) confirm the reset."""
    return render(request, services, "reset.html", email=request.query_params.get("email", ""),
                  token=request.query_params.get("token", ""))


@page()
async def oauth_callback(request: Request, services: Services, seen: Visitor) -> Response:
    provider = request.path_params["provider"]
    if provider not in _PROVIDERS:
        return render(request, services, "error.html", status=404, code=404, message="This page does not exist.")
    return render(request, services, "oauth.html", provider=provider, label=_PROVIDERS[provider],
                  code=request.query_params.get("code", ""), state=request.query_params.get("state", ""))


@page(Role.COMMON)
async def chat(request: Request, services: Services, seen: Visitor) -> Response:
    return render(request, services, "chat.html", chat_url=services.cache.options.text("ChatLink"))


async def language(request: Request) -> Response:
    """Remember the chosen language and go back to the page it was chosen on."""
    chosen = request.query_params.get("to", "")
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    if chosen in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax")
    return response


def routes() -> list[Route]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/about", about, methods=["GET"]),
        Route("/login", login, methods=["GET"]),
        Route("/register", register, methods=["GET"]),
        Route("/reset", reset, methods=["GET"]),
        Route("/user/reset", reset, methods=["GET"]),
        Route("/oauth/{provider}", oauth_callback, methods=["GET"]),
        Route("/chat", chat, methods=["GET"]),
        Route("/lang", language, methods=["GET"]),
    ]
