"""The lean relay app's error path: each route answers errors in the shape of the API it speaks."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tollway.errors import TollwayError
from tollway.relay.asgi import Incoming, RelayApp, Route, Router
from tollway.relay.reply import Reply, json_reply


async def _fails(incoming: Incoming) -> Reply:
    raise AssertionError("not reached: the app has not started")


async def _other(incoming: Incoming) -> Reply:
    raise AssertionError("not reached: the app has not started")


async def _missing(incoming: Incoming) -> Reply:
    return json_reply({"missing": True}, 404)


def _anthropic(exc: TollwayError, request_id: str) -> Reply:
    return json_reply({"type": "error", "error": {"type": "api_error", "message": exc.message}}, 529)


def _call(app: RelayApp, path: str) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_errors_take_the_shape_of_the_routes_api() -> None:
    router = Router([Route(frozenset({"POST"}), "/v1/messages", _fails, _anthropic),
                     Route(frozenset({"POST"}), "/v1/chat/completions", _other)], _missing)
    app = RelayApp(router)  # services are not set: every route fails with "Tollway is still starting"
    status, body = _call(app, "/v1/messages")
    assert (status, body) == (529, {"type": "error", "error": {"type": "api_error",
                                                               "message": "Tollway is still starting"}})
    status, body = _call(app, "/v1/chat/completions")
    assert status == 500 and body["error"]["message"].startswith("Tollway is still starting")
    assert set(router.renders) == {_fails}  # only routes of another API keep a renderer
