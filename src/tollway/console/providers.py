"""Where the console sends a browser to sign in or bind an account with GitHub, OIDC or Lark, and the site's address."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request

from tollway.accounts.oauth import site_address

if TYPE_CHECKING:
    from tollway.services import Services


def base_url(request: Request, services: Services) -> str:
    """The public address of the site: ServerAddress, else the address this request came to."""
    return site_address(request, services.cache.options)


async def oauth_buttons(request: Request, services: Services) -> list[dict[str, str]]:
    """The enabled OAuth providers and where each sends the browser (the state is added by the page)."""
    options, settings = services.cache.options, services.settings
    server = base_url(request, services)
    buttons = []
    if options.flag("GitHubOAuthEnabled") and options.text("GitHubClientId"):
        query = urlencode({"client_id": options.text("GitHubClientId"), "scope": "user:email"})
        url = f"{settings.github_oauth_url}/login/oauth/authorize?{query}"
        buttons.append({"name": "github", "label": "GitHub", "url": url})
    if options.flag("OidcEnabled") and options.text("OidcClientId"):
        endpoint = options.text("OidcAuthorizationEndpoint")
        if not endpoint:
            try:
                endpoint = await services.accounts.oidc.endpoint(services.accounts.http, options,
                                                                 "authorization_endpoint")
            except Exception:  # discovery failing must not break the page
                endpoint = ""
        if endpoint:
            query = urlencode({"client_id": options.text("OidcClientId"), "redirect_uri": f"{server}/oauth/oidc",
                               "response_type": "code", "scope": "openid profile email"})
            buttons.append({"name": "oidc", "label": "OIDC", "url": f"{endpoint}?{query}"})
    if options.text("LarkClientId"):
        query = urlencode({"client_id": options.text("LarkClientId"), "redirect_uri": f"{server}/oauth/lark",
                           "response_type": "code"})
        buttons.append({"name": "lark", "label": "Lark",
                        "url": f"{settings.lark_oauth_url}/open-apis/authen/v1/authorize?{query}"})
    return buttons
