"""AI Proxy's admin routes at the origin root, authenticated by ADMIN_KEY (root), answering AI Proxy's envelope.

A wrong or missing key is HTTP 401 `{"success": false, "message": ...}`; without ADMIN_KEY every call is refused.
Errors keep their HTTP status (400 bad input, 404 unknown id), as AI Proxy answers them. Two routes are also One
API's (`POST /api/channel/`, `DELETE /api/channel/{id}`): the admin key gets AI Proxy's, a signed-in user or an
access token gets One API's, anyone else AI Proxy's 401.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.admin import channels as one_api_channels
from tollway.admin.envelope import answered, envelope, field, ok, read_json, said
from tollway.admin.names import refuse_nul_query
from tollway.aiproxy import channels, dashboard, logs
from tollway.errors import AuthenticationFailed, TollwayError
from tollway.one_api_import import import_one_api

if TYPE_CHECKING:
    from tollway.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[Request, "Services"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def presented_key(request: Request) -> str:
    """What the caller sent as key: `Authorization`, else `?key=` (AI Proxy's AdminAuth)."""
    return request.headers.get("authorization") or request.query_params.get("key", "")


def failure(exc: TollwayError, request: Request) -> Response:
    """AI Proxy's error envelope with the error's own HTTP status."""
    return envelope(success=False, message=said(request, exc.message), status=exc.status_code)


def admin_only(handler: Handler) -> Endpoint:
    """An AI Proxy admin route: the admin key (root) or a 401."""

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services

        async def respond() -> Response:
            key = services.auth.admin_key
            if not key.is_set:
                raise AuthenticationFailed("unauthorized, admin key is not set (ADMIN_KEY)")
            if not key.matches(presented_key(request)):
                raise AuthenticationFailed("unauthorized, the admin key is missing or wrong")
            refuse_nul_query(request)
            return await handler(request, services)

        return await answered(request, respond, fail=failure, what="AI Proxy admin request", logger=log)

    return endpoint


def _one_api_caller(request: Request, services: Services) -> bool:
    """A signed-in user or a management access token: One API's caller, whose routes answer it."""
    if "session" in request.scope and request.session.get("id") is not None:
        return True
    header = request.headers.get("authorization", "").strip()
    token = header[7:].strip() if header[:7].lower() == "bearer " else header
    return bool(token) and token in services.cache.access_tokens


def shared(handler: Handler, one_api: Endpoint) -> Endpoint:
    """A route both AI Proxy and One API have: chosen by the caller."""
    aiproxy = admin_only(handler)

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        key = services.auth.admin_key
        if key.matches(presented_key(request)) or (key.is_set and not _one_api_caller(request, services)):
            return await aiproxy(request)
        return await one_api(request)

    return endpoint


async def import_from_one_api(request: Request, services: Services) -> Response:
    """AI Proxy's `POST /api/channels/import/oneapi {"dsn": ...}`: `data` lists what failed; the message says what
    was imported and skipped. `"logs": true` brings the logs too."""
    data = await read_json(request, services)
    dsn = field(data, "dsn", str, default="")
    report = await import_one_api(dsn, engine=services.engine, log_engine=services.log_engine,
                                  keybox=services.keybox, logs=bool(field(data, "logs", bool, default=False)),
                                  lock=services.keeper.lock)
    await services.keeper.reload()  # the new users, tokens, channels and options take effect at once
    log.info("One API import: %s", report.summary())
    return ok(report.failed, message=report.summary())


def routes() -> list[BaseRoute]:
    """The nine routes FastGPT calls, and the One API import."""
    return [
        Route("/channels/all", admin_only(channels.list_all), methods=["GET"]),
        Route("/channels/type_metas", admin_only(channels.type_metas), methods=["GET"]),
        Route("/channels/import/oneapi", admin_only(import_from_one_api), methods=["POST"]),
        Route("/channel/", shared(channels.create, one_api_channels.add_channels), methods=["POST"]),
        Route("/channel/{id:int}", admin_only(channels.update), methods=["PUT"]),
        Route("/channel/{id:int}/status", admin_only(channels.set_status), methods=["POST"]),
        Route("/channel/{id:int}", shared(channels.delete, one_api_channels.delete_channel), methods=["DELETE"]),
        Route("/logs/search", admin_only(logs.search), methods=["GET"]),
        Route("/logs/detail/{log_id:int}", admin_only(logs.detail), methods=["GET"]),
        Route("/dashboardv2/", admin_only(dashboard.dashboard), methods=["GET"]),
        Route("/dashboardv2", admin_only(dashboard.dashboard), methods=["GET"]),
    ]
