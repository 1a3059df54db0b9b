"""Channel balances from the providers: one channel (One API's answer shape) or every enabled channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import Principal, api, ok, path_id
from tollway.constants import Role
from tollway.errors import InvalidRequest
from tollway.operations.balances import BalanceError

if TYPE_CHECKING:
    from tollway.services import Services


@api(Role.ADMIN)
async def update_one(request: Request, services: Services, principal: Principal) -> Response:
    """Query and store one channel's balance; answers `{success, message, balance}` as One API does."""
    channel_id = path_id(request)
    channel = services.cache.channels.get(channel_id)
    if channel is None:
        raise InvalidRequest(f"channel {channel_id} not found")
    try:
        balance = await services.operations.balances.update(channel)
    except BalanceError as exc:
        raise InvalidRequest(str(exc)) from exc
    body = {"success": True, "message": "", "balance": balance, "data": {"balance": balance}}
    return Response(orjson.dumps(body), media_type="application/json")


@api(Role.ADMIN)
async def update_all(request: Request, services: Services, principal: Principal) -> Response:
    """Query every enabled channel of a supported type (8 at a time, 15 s each at most) and answer when done."""
    return ok(await services.operations.balances.update_all())


def routes() -> list[Route]:
    return [
        Route("/channel/update_balance", update_all, methods=["GET"]),
        Route("/channel/update_balance/{id:int}", update_one, methods=["GET"]),
    ]
