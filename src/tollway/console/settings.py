"""Settings pages: one's own account (every user) and root's operation, system and other options."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollway.admin.envelope import said
from tollway.admin.views import user_view
from tollway.console import i18n, markdown, settings_forms
from tollway.console.providers import base_url, oauth_buttons
from tollway.console.render import Visitor, page, render, visitor
from tollway.console.settings_forms import _
from tollway.constants import Role
from tollway.storage.users import user_by_id

if TYPE_CHECKING:
    from tollway.services import Services

ROLE_NAMES: dict[int, str] = {Role.COMMON: _("Common user"), Role.ADMIN: _("Administrator"), Role.ROOT: _("Root")}
TAB_TITLES = {"operation": _("Operation"), "system": _("System"), "other": _("Other")}
_FRAMED = ("HomePageContent", "About")  # options whose https:// address is shown in a frame
_BINDINGS = (("github", "github_id", "GitHub"), ("oidc", "oidc_id", "OIDC"), ("lark", "lark_id", "Lark"))
# What the settings script shows, rendered into the page in the visitor's language.
SCRIPT_TEXTS = (
    _("Nothing to save: no field was changed."),
    _("{label}: not valid JSON ({error})"),
    _("{label}: {message}"),
    _("Saved before the refusal: {labels}. The rest of this group was not saved."),
    _("Nothing in this group was saved."),
    _("Set"),
    _("Copy"),
    _("Invitation link"),
    _("The two passwords differ."),
    _("Type your username exactly to confirm."),
    _("Delete every log entry created before {date}? This cannot be undone."),
    _("Deleted {count} log entries."),
    _("A code is on its way to {email}."),
    _("Preview"),
    _("Hide preview"),
)


def _tabs(role: int) -> list[tuple[str, str]]:
    """(path, label) of the settings tabs this role sees."""
    tabs = [("/setting", _("Personal"))]
    if role >= Role.ROOT:
        tabs += [(f"/setting/{name}", title) for name, title in TAB_TITLES.items()]
    return tabs


def _script_texts(language: str) -> dict[str, str]:
    translate = i18n.Translator(language)
    return {text: translate(text) for text in SCRIPT_TEXTS}


async def _own_row(services: Services, user_id: int) -> dict[str, Any]:
    row = await user_by_id(services.engine, user_id)
    if row is None:
        raise LookupError(f"user {user_id} vanished")  # as `.one()` raised: the visitor was just found
    return user_view(row, services.cache)


@page(Role.COMMON)
async def personal(request: Request, services: Services, seen: Visitor) -> Response:
    """Profile, access token, invitation link, bindings and account deletion (One API's personal settings)."""
    assert seen.user is not None
    options = services.cache.options
    me = await _own_row(services, seen.user.id)
    site = base_url(request, services)
    providers = {button["name"]: button for button in await oauth_buttons(request, services)}
    bindings = [{"name": name, "label": label, "bound": me[column], "url": providers[name]["url"]}
                for name, column, label in _BINDINGS if name in providers]
    return render(
        request, services, "settings/personal.html", tabs=_tabs(seen.role), me=me,
        role_name=ROLE_NAMES.get(seen.role, "Common user"), site=site,
        invitation=f"{site}/register?aff={me['aff_code']}" if me["aff_code"] else "",
        has_access_token=bool(seen.user.access_token), bindings=bindings,
        wechat=options.flag("WeChatAuthEnabled"), wechat_qrcode=options.text("WeChatAccountQRCodeImageURL"),
        turnstile_site_key=options.text("TurnstileSiteKey") if options.flag("TurnstileCheckEnabled") else "",
        texts=_script_texts(seen.language))


def _options_page(tab: str) -> Callable[[Request], Awaitable[Response]]:
    """The page of one of root's option tabs (operation, system, other)."""

    @page(Role.ROOT)
    async def options_tab(request: Request, services: Services, seen: Visitor) -> Response:
        options = services.cache.options
        groups = settings_forms.TABS[tab]
        values = {f.key: settings_forms.field_value(options, f) for g in groups for f in g.fields}
        secrets = {f.key: settings_forms.secret_set(options, f) for g in groups for f in g.fields
                   if f.kind == "secret"}
        month_ago = (datetime.date.today() - datetime.timedelta(days=30)).isoformat()
        return render(
            request, services, "settings/options.html", tabs=_tabs(seen.role), tab=tab,
            tab_title=TAB_TITLES[tab], groups=groups, values=values, secrets=secrets,
            quota_keys=settings_forms.QUOTA_KEYS, currency=options.flag("DisplayInCurrencyEnabled"),
            quota_per_unit=options.quota_per_unit, server=base_url(request, services), month_ago=month_ago,
            texts=_script_texts(seen.language))

    return options_tab


async def preview(request: Request) -> Response:
    """Root's preview of a Markdown option (`{key, text}`), rendered as the pages render it; changes nothing."""
    services: Services = request.app.state.services
    seen = visitor(request, services)
    if seen.role < Role.ROOT:
        return JSONResponse({"success": False, "message": said(request, "you do not have permission to do this")},
                            status_code=403)
    try:
        data = await request.json()
    except ValueError:
        data = None
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return JSONResponse({"success": False, "message": said(request, "text is required")})
    translate = i18n.Translator(seen.language)
    if data.get("key") in _FRAMED and text.startswith("https://"):  # as console/public.py shows these
        html = f"<p>{escape(translate(_('This page will show {address} in a frame.'), address=text))}</p>"
    else:
        html = str(markdown.render(text)) if text.strip() else f"<p>{escape(translate(_('(empty)')))}</p>"
    return JSONResponse({"success": True, "message": "", "data": html})


def routes() -> list[Route]:
    return [
        Route("/setting", personal, methods=["GET"]),
        Route("/setting/preview", preview, methods=["POST"]),
        *(Route(f"/setting/{tab}", _options_page(tab), methods=["GET"]) for tab in TAB_TITLES),
    ]
