"""Every route of the management API, mounted under /api."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.admin import (
    balances,
    channel_health,
    channel_tests,
    channels,
    dashboard,
    logs,
    oauth,
    options,
    redemptions,
    registration,
    sessions,
    status,
    tokens,
    users,
)
from tollway.aiproxy import routes as aiproxy_routes
from tollway.relay.routes import invalid_url_message

# Starlette gives a function route without `methods` only GET, so the catch-all lists them; without it a known
# path called with another method answered a plain-text 405 instead of One API's JSON 404 "Invalid URL".
_ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def invalid_url(request: Request) -> Response:
    """One API's JSON 404 for an unknown path."""
    body = orjson.dumps(invalid_url_message(request.method, request.url.path))
    return Response(body, status_code=404, media_type="application/json")


def api_routes() -> list[BaseRoute]:
    """All /api routes, with One API's slashes (`/api/user/`); app.py adds gin's redirects for the other forms."""
    # AI Proxy's admin routes first: two of them share One API's paths and hand One API's callers on.
    routes: list[BaseRoute] = list(aiproxy_routes.routes())
    modules = (
        status, sessions, users, tokens, channels, options, logs,
        # accounts and security modules
        registration, oauth,
        # operations modules
        redemptions, dashboard, channel_tests, balances,
        # channel health
        channel_health,
    )
    for module in modules:
        routes.extend(module.routes())
    routes.append(Route("/{rest:path}", invalid_url, methods=_ANY_METHOD))
    return routes
