"""Channel health for administrators: which (channel, model) pairs cool down, since when and why; clearing them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import Principal, api, ok
from tollway.constants import Role
from tollway.errors import InvalidRequest

if TYPE_CHECKING:
    from tollway.services import Services


@api(Role.ADMIN)
async def channel_health(request: Request, services: Services, principal: Principal) -> Response:
    """This node's view: `cooling` pairs, channels whose automatic disable is being written, and the rules."""
    view = services.guards.health.view()
    channel = request.query_params.get("channel", "").strip()
    if channel:
        if not channel.isdigit():
            raise InvalidRequest("channel must be a channel id")
        view["cooling"] = [pair for pair in view["cooling"] if pair["channel_id"] == int(channel)]
    return ok(view)


@api(Role.ADMIN)
async def clear_health(request: Request, services: Services, principal: Principal) -> Response:
    """Let a channel's pairs (or one model's) serve again at once: `?channel=ID[&model=NAME]`; answers how many."""
    channel = request.query_params.get("channel", "").strip()
    if not channel.isdigit():
        raise InvalidRequest("channel must be a channel id")
    model = request.query_params.get("model") or None
    return ok(services.guards.health.clear(int(channel), model))


def routes() -> list[Route]:
    return [
        Route("/channel/health", channel_health, methods=["GET"]),
        Route("/channel/health", clear_health, methods=["DELETE"]),
    ]
