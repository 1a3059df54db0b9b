"""Rendering console pages: the Jinja environment, what every page knows, and who may see a page."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tollway import __version__
from tollway.admin.names import has_nul_query
from tollway.console import i18n, markdown
from tollway.constants import ENUMS, Role, UserStatus
from tollway.storage.cache import UserEntry

if TYPE_CHECKING:
    from tollway.services import Services

HERE = Path(__file__).parent

# Strings the browser script shows; sent to every page in the visitor's language.
SCRIPT_STRINGS = (
    "Copied", "Copy failed: select the text and copy it yourself", "Saved", "Done", "Request failed",
    "Are you sure?", "Cancel", "Confirm", "Network error: is the server reachable?",
)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja environment; every value is escaped unless it is explicitly safe markup."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["markdown"] = markdown.render
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    # Templates compare with names (`t.status == TokenStatus.ENABLED`), not One API's bare numbers.
    env.globals.update({enum.__name__: enum for enum in ENUMS})
    return env


@lru_cache(maxsize=64)
def static_url(name: str) -> str:
    """A static file's URL with a content hash, so browsers may cache it for long."""
    digest = hashlib.sha256((HERE / "static" / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


@dataclass(frozen=True)
class Visitor:
    """Who is looking at the page (None fields for an anonymous visitor)."""

    user: UserEntry | None
    language: str

    @property
    def role(self) -> int:
        return self.user.role if self.user else 0


def visitor(request: Request, services: Services) -> Visitor:
    """The signed-in user behind the session cookie, if any, and the language to answer in."""
    user_id = request.session.get("id") if "session" in request.scope else None
    user = services.cache.users.get(int(user_id)) if user_id is not None else None
    if user is not None and user.status != UserStatus.ENABLED:
        user = None
    return Visitor(user=user, language=i18n.language_of(request))


def format_quota(services: Services, quota: int | float) -> str:
    """Quota as dollars or as raw units, as the DisplayInCurrencyEnabled option says."""
    options = services.cache.options
    if options.flag("DisplayInCurrencyEnabled"):
        dollars = float(quota) / options.quota_per_unit
        # A single call often costs millionths of a dollar: small amounts keep enough digits to be seen.
        places = 4 if abs(dollars) >= 0.01 else 6
        text = f"{dollars:,.{places}f}".rstrip("0").rstrip(".")
        return f"${text if text not in ('', '-0') else '0'}"
    return f"{int(quota):,}"


def navigation(role: int) -> list[tuple[str, str]]:
    """(path, label) of the pages this role may open, in menu order."""
    items = [("/dashboard", "Dashboard"), ("/token", "Tokens"), ("/log", "Logs"), ("/topup", "Top up")]
    if role >= Role.ADMIN:
        items[1:1] = [("/channel", "Channels")]
        items += [("/redemption", "Redemption codes"), ("/user", "Users")]
    items += [("/chat", "Chat"), ("/setting", "Settings")]
    return items


def render(request: Request, services: Services, template: str, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A console page: the template filled with the page's context and what every page knows."""
    seen = visitor(request, services)
    translate = i18n.Translator(seen.language)
    options = services.cache.options
    strings = {text: translate(text) for text in SCRIPT_STRINGS}
    common = {
        "_": translate,
        "lang": seen.language,
        "languages": i18n.LANGUAGE_NAMES,
        "user": seen.user,
        "role": seen.role,
        "nav": navigation(seen.role) if seen.user else [],
        # Set at sign-in with a weak password (admin/sessions.py), cleared when the password changes.
        "weak_password": seen.user is not None and bool(request.session.get("weak_password")),
        "path": request.url.path,
        # The page with its query, so that switching the language keeps a list's filters.
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "system_name": options.text("SystemName") or "Tollway",
        "logo": options.text("Logo"),
        "footer": options.text("Footer"),
        "chat_link": options.text("ChatLink"),
        "top_up_link": options.text("TopUpLink"),
        "quota": lambda value: format_quota(services, value),
        "static": static_url,
        "version": __version__,
        "script_strings": Markup(json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")),
    }
    html = environment().get_template(template).render(**common, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


Page = Callable[[Request, "Services", Visitor], Awaitable[Response]]


def page(min_role: int = 0) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """Make a console page: anonymous visitors of a private page go to sign-in; too low a role gets 403."""

    def wrap(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            services: Services = request.app.state.services
            seen = visitor(request, services)
            if min_role and seen.user is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            if seen.role < min_role:
                return render(request, services, "error.html", status=403, code=403,
                              message="You do not have permission to open this page.")
            if has_nul_query(request):  # PostgreSQL cannot search for NUL; no page needs it
                return render(request, services, "error.html", status=400, code=400,
                              message="The address contains a NUL character.")
            return await handler(request, services, seen)

        return endpoint

    return wrap
