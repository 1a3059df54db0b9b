"""Who a sign-in provider says the user is: GitHub, OIDC, Lark (Feishu) and WeChat (through its WeChat Server).

Each function turns the one-time `code` the browser brought back into an `Identity`; endpoints come from the
options (OIDC, WeChat) or from settings (GitHub, Lark), so they can point at any compatible server.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from starlette.requests import Request

from tollway.errors import InvalidRequest
from tollway.options import Options, Text
from tollway.settings import Settings

log = logging.getLogger(__name__)

# The users column holding each provider's id, and how the provider is named in messages.
COLUMNS = {"github": "github_id", "oidc": "oidc_id", "lark": "lark_id", "wechat": "wechat_id"}
LABELS = {"github": "GitHub", "oidc": "OIDC", "lark": "Lark", "wechat": "WeChat"}
_DISCOVERY_TTL_S = 3600.0


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str  # the provider's stable id for the user
    username: str = ""  # a suggestion for a new account
    display_name: str = ""
    email: str = ""


def site_address(request: Request, options: Options) -> str:
    """The public address of the site: ServerAddress, else the address the browser used for this request.

    A sign-in link and the code exchange after it must name the same redirect_uri, so both come from here.
    """
    return options.text("ServerAddress").rstrip("/") or str(request.base_url).rstrip("/")


async def _json(http: httpx2.AsyncClient, label: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """A JSON object from the provider, or InvalidRequest saying the provider failed (details go to the log)."""
    if not url:
        raise InvalidRequest(f"{label} sign-in is not configured completely (an endpoint is missing)")
    try:
        response = await http.request(method, url, **kwargs)
        data = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        log.warning("%s sign-in: %s %s failed: %r", label, method, url, exc)
        raise InvalidRequest(f"could not reach the {label} server; try again later") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"the {label} server gave an answer that is not a JSON object")
    if response.status_code >= 400:
        log.warning("%s sign-in: %s %s answered %s: %s", label, method, url, response.status_code, data)
        raise InvalidRequest(f"the {label} server refused the sign-in ({response.status_code})")
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _access_token(data: dict[str, Any], label: str) -> str:
    token = _text(data, "access_token")
    if not token:
        reason = _text(data, "error_description") or _text(data, "error") or _text(data, "msg") or "no access token"
        raise InvalidRequest(f"{label} did not accept the sign-in code: {reason}")
    return token


def _require_code(code: str) -> None:
    if not code:
        raise InvalidRequest("the sign-in code is missing")


async def github(http: httpx2.AsyncClient, settings: Settings, options: Options, code: str) -> Identity:
    """GitHub: code → access token → /user; the id is the login name, as in One API."""
    _require_code(code)
    token = await _json(http, "GitHub", "POST", f"{settings.github_oauth_url}/login/oauth/access_token",
                        headers={"Accept": "application/json"},
                        data={"client_id": options.text("GitHubClientId"),
                              "client_secret": options.text("GitHubClientSecret"), "code": code})
    user = await _json(http, "GitHub", "GET", f"{settings.github_api_url}/user",
                       headers={"Authorization": f"Bearer {_access_token(token, 'GitHub')}",
                                "Accept": "application/vnd.github+json"})
    login = _text(user, "login")
    if not login:
        raise InvalidRequest("GitHub answered without a user login; try again later")
    return Identity("github", login, display_name=_text(user, "name") or "GitHub User", email=_text(user, "email"))


class OidcDiscovery:
    """The provider's metadata from OidcWellKnown, fetched when an endpoint option is empty and kept for an hour."""

    def __init__(self) -> None:
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}

    async def endpoint(self, http: httpx2.AsyncClient, options: Options, name: str) -> str:
        endpoints: dict[str, Text] = {"token_endpoint": "OidcTokenEndpoint",
                                      "userinfo_endpoint": "OidcUserinfoEndpoint",
                                      "authorization_endpoint": "OidcAuthorizationEndpoint"}
        option = endpoints[name]
        configured = options.text(option).strip()
        well_known = options.text("OidcWellKnown").strip()
        if configured or not well_known:
            return configured
        cached = self._documents.get(well_known)
        if cached is None or cached[0] < time.monotonic():
            document = await _json(http, "OIDC", "GET", well_known, headers={"Accept": "application/json"})
            cached = self._documents[well_known] = (time.monotonic() + _DISCOVERY_TTL_S, document)
        return _text(cached[1], name)


async def oidc(http: httpx2.AsyncClient, options: Options, discovery: OidcDiscovery, code: str,
               server: str) -> Identity:
    """OIDC authorization-code flow: token endpoint, then userinfo; the id is `sub`.

    `server` is the site address the sign-in link named in its redirect_uri; the provider checks they match.
    """
    _require_code(code)
    token = await _json(http, "OIDC", "POST", await discovery.endpoint(http, options, "token_endpoint"),
                        headers={"Accept": "application/json"},
                        data={"client_id": options.text("OidcClientId"),
                              "client_secret": options.text("OidcClientSecret"),
                              "code": code, "grant_type": "authorization_code", "redirect_uri": f"{server}/oauth/oidc"})
    user = await _json(http, "OIDC", "GET", await discovery.endpoint(http, options, "userinfo_endpoint"),
                       headers={"Authorization": f"Bearer {_access_token(token, 'OIDC')}",
                                "Accept": "application/json"})
    subject = _text(user, "sub")
    if not subject:
        raise InvalidRequest("the OIDC provider answered without a subject (sub); try again later")
    # An address the provider has not verified is not copied: it would let anyone claim another person's mail.
    email = _text(user, "email") if user.get("email_verified", True) is not False else ""
    return Identity("oidc", subject, username=_text(user, "preferred_username"),
                    display_name=_text(user, "name") or "OIDC User", email=email)


async def lark(http: httpx2.AsyncClient, settings: Settings, options: Options, code: str,
               server: str) -> Identity:
    """Lark / Feishu: v2 token endpoint, then the passport user info; the id is `open_id`."""
    _require_code(code)
    token = await _json(http, "Lark", "POST", f"{settings.lark_oauth_url}/open-apis/authen/v2/oauth/token",
                        json={"grant_type": "authorization_code", "client_id": options.text("LarkClientId"),
                              "client_secret": options.text("LarkClientSecret"), "code": code,
                              "redirect_uri": f"{server}/oauth/lark"})
    user = await _json(http, "Lark", "GET", f"{settings.lark_passport_url}/suite/passport/oauth/userinfo",
                       headers={"Authorization": f"Bearer {_access_token(token, 'Lark')}"})
    open_id = _text(user, "open_id")
    if not open_id:
        raise InvalidRequest("Lark answered without an open_id; try again later")
    return Identity("lark", open_id, display_name=_text(user, "name") or "Lark User")


async def wechat(http: httpx2.AsyncClient, options: Options, code: str) -> Identity:
    """WeChat through the operator's WeChat Server: `GET {address}/api/wechat/user?code=` answers the user's id."""
    _require_code(code)
    address = options.text("WeChatServerAddress").rstrip("/")
    answer = await _json(http, "WeChat", "GET", f"{address}/api/wechat/user" if address else "",
                         params={"code": code}, headers={"Authorization": options.text("WeChatServerToken")})
    if answer.get("success") is not True:
        raise InvalidRequest(_text(answer, "message") or "the WeChat server refused the code")
    wechat_id = _text(answer, "data")
    if not wechat_id:
        raise InvalidRequest("the verification code is wrong or has expired")
    return Identity("wechat", wechat_id, display_name="WeChat User")
