"""Root's view of the options: read them all (but secrets) and set one at a time, validated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway import options
from tollway.admin import option_rules
from tollway.admin.envelope import Principal, api, ok, read_json
from tollway.constants import Role
from tollway.errors import InvalidRequest
from tollway.storage import writes

if TYPE_CHECKING:
    from tollway.services import Services

# One API's UpdateOption refuses to switch on a sign-in method before the option it depends on is filled in,
# since doing so would break sign-in for everyone.
_PREREQUISITES = {
    "GitHubOAuthEnabled": ("GitHubClientId", "GitHub OAuth needs GitHubClientId (and GitHubClientSecret) first"),
    "EmailDomainRestrictionEnabled": ("EmailDomainWhitelist", "the email domain restriction needs a whitelist first"),
    "WeChatAuthEnabled": ("WeChatServerAddress", "WeChat sign-in needs WeChatServerAddress first"),
    "TurnstileCheckEnabled": ("TurnstileSiteKey", "the Turnstile check needs TurnstileSiteKey first"),
}


@api(Role.ROOT)
async def list_options(request: Request, services: Services, principal: Principal) -> Response:
    return ok(services.cache.options.public())


@api(Role.ROOT)
async def set_option(request: Request, services: Services, principal: Principal) -> Response:
    """Body `{key, value}`; the value is checked (type, range, format, prerequisites) before it is stored."""
    data = await read_json(request, services)
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("key is required")
    if "value" not in data:
        raise InvalidRequest("value is required")
    value = option_rules.check(key, options.parse(key, data["value"]))
    current = services.cache.options
    if key in _PREREQUISITES and value is True:
        needed, message = _PREREQUISITES[key]
        if not str(current.values[needed]).strip():
            raise InvalidRequest(message)
    for flag, (needed, _) in _PREREQUISITES.items():
        # Emptying what a switched-on sign-in method needs would break it just the same.
        if key == needed and not str(value).strip() and current.values[flag] is True:
            raise InvalidRequest(f"switch {flag} off before emptying {key}")
    await writes.set_option(services.keeper, key, value)
    return ok()


def routes() -> list[Route]:
    return [
        Route("/option/", list_options, methods=["GET"]),
        Route("/option/", set_option, methods=["PUT"]),
    ]
