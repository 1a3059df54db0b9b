"""Channel tests: one channel now (One API's answer shape), all or the disabled ones in the background, results.

`GET /api/channel/test/:id?model=` answers `{success, message, time, modelName}` like One API (`all_models=true`
tests every model of the channel);
`GET /api/channel/test?scope=all|disabled|enabled` starts a run (a second start while one runs is refused);
`GET /api/channel/test/status` shows its progress; `GET /api/channel/tests` and `/api/channel/:id/tests`
list the stored result of each tested model (AI Proxy's channel_tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin.envelope import Principal, api, int64, ok, path_id, said
from tollway.constants import Role
from tollway.errors import InvalidRequest
from tollway.storage.cache import ChannelEntry
from tollway.storage.test_results import test_results

if TYPE_CHECKING:
    from tollway.services import Services

def _channel(services: Services, channel_id: int) -> ChannelEntry:
    channel = services.cache.channels.get(channel_id)
    if channel is None:
        raise InvalidRequest(f"channel {channel_id} not found")
    return channel


@api(Role.ADMIN)
async def test_one(request: Request, services: Services, principal: Principal) -> Response:
    """Test a channel with `model` (or its default) now; `time` is in seconds, 0 when the test failed.

    With `all_models=true` every model of the channel is tested (five at a time): `success` when all pass,
    `data` lists each model's result.
    """
    channel = _channel(services, path_id(request))
    tester = services.operations.tester
    body: dict[str, Any]
    if request.query_params.get("all_models", "").lower() in ("1", "true", "yes"):
        found = await tester.test_models(channel)
        passed = sum(1 for result in found if result.success)
        body = {"success": passed == len(found), "message": said(request, f"{passed} of {len(found)} models passed"),
                "time": round(max(result.took for result in found), 3), "modelName": "",
                "data": [{"model": r.model, "success": r.success, "message": r.message,
                          "time": round(r.took, 3) if r.success else 0.0} for r in found]}
    else:
        result = await tester.test(channel, request.query_params.get("model", ""))
        body = {"success": result.success, "message": result.message,
                "time": round(result.took, 3) if result.success else 0.0, "modelName": result.model}
    return Response(orjson.dumps(body), media_type="application/json")


@api(Role.ADMIN)
async def start_run(request: Request, services: Services, principal: Principal) -> Response:
    """Start testing every channel (`scope=all`, the default), the disabled ones, or the enabled ones."""
    run = services.operations.tester.start(request.query_params.get("scope") or "all")
    return ok(run.view())


@api(Role.ADMIN)
async def run_status(request: Request, services: Services, principal: Principal) -> Response:
    """Progress of the current run, or the result of the last one (`running` false, zeros before any run)."""
    return ok(await services.operations.tester.status())


async def _results(services: Services, channel_id: int | None) -> list[dict[str, Any]]:
    found = await test_results(services.engine, channel_id)
    for view in found:
        view["success"] = bool(view["success"])
        view["response"] = view["response"] or ""
    return found


@api(Role.ADMIN)
async def all_results(request: Request, services: Services, principal: Principal) -> Response:
    """The last result of every tested model of every channel (`channel_id=` keeps one channel's)."""
    raw = request.query_params.get("channel_id", "")
    return ok(await _results(services, int64(raw, "channel_id") if raw else None))


@api(Role.ADMIN)
async def channel_results(request: Request, services: Services, principal: Principal) -> Response:
    return ok(await _results(services, path_id(request)))


def routes() -> list[Route]:
    return [
        Route("/channel/test", start_run, methods=["GET"]),
        Route("/channel/test/status", run_status, methods=["GET"]),
        Route("/channel/test/{id:int}", test_one, methods=["GET"]),
        Route("/channel/tests", all_results, methods=["GET"]),
        Route("/channel/{id:int}/tests", channel_results, methods=["GET"]),
    ]
