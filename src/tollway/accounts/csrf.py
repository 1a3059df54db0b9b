"""Cross-site request forgery checks for requests that a browser's cookies could authenticate.

A state-changing /api request is accepted when any of these holds:
  * it carries an `Authorization` header (an access token; a cross-site page cannot add one to /api, which
    answers no CORS preflight);
  * its `X-CSRF-Token` header, or its `csrf_token` form field, equals the session's token (the console reads it
    from the `tollway_csrf` cookie, or renders it into forms);
  * the browser says it comes from this origin: `Sec-Fetch-Site: same-origin` (or `none`, typed by the user), or,
    from a browser that sends no Sec-Fetch-Site, an `Origin` equal to this server's origin or ServerAddress's;
  * it has neither Sec-Fetch-Site nor Origin: it was not sent by a browser page, so it cannot be forged by one.
OAuth callbacks are exempt: their single-use `state`, bound to the browser's session, is their proof.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# One API's GET routes that change something (paths under /api).
STATE_CHANGING_GETS = frozenset({
    "/user/token", "/user/logout", "/oauth/email/bind", "/oauth/wechat/bind",
    "/channel/test", "/channel/update_balance",
})
STATE_CHANGING_GET_PREFIXES = ("/channel/test/", "/channel/update_balance/")
OAUTH_CALLBACKS = frozenset({"/oauth/github", "/oauth/oidc", "/oauth/lark"})
HEADER = "x-csrf-token"
FORM_FIELD = "csrf_token"
COOKIE = "tollway_csrf"
FORM_TYPE = "application/x-www-form-urlencoded"


def needs_check(method: str, path: str) -> bool:
    """Whether a request to this /api path with this method could change state."""
    path = path.rstrip("/") or "/"
    if path in OAUTH_CALLBACKS:
        return False
    if method in SAFE_METHODS:
        return path in STATE_CHANGING_GETS or path.startswith(STATE_CHANGING_GET_PREFIXES)
    return True


def token_matches(expected: object, offered: str | None) -> bool:
    return isinstance(expected, str) and bool(expected) and bool(offered) and hmac.compare_digest(
        expected.encode(), (offered or "").encode())


def form_token(body: bytes) -> str | None:
    """The csrf_token field of a URL-encoded form body."""
    values = parse_qs(body.decode("latin-1"), max_num_fields=200).get(FORM_FIELD)
    return values[0] if values else None


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def same_origin(headers: Headers, scheme: str, server_address: str) -> bool | None:
    """True or False when the browser told where the request comes from; None when nothing says (not a browser)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site.lower() in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return None
    own = {f"{scheme}://{headers.get('host', '')}".lower(), _origin_of(server_address)}
    return origin.lower() in own - {""}


def refusal() -> str:
    return ("cross-site request refused: send the X-CSRF-Token header (the tollway_csrf cookie) or a csrf_token "
            "form field, or use an access token")
