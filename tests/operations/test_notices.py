"""Notices of what the gateway did on its own reach the operator through Message Pusher."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.harness import Gateway, ServerThread
from tests.upstreams.openai_mock import OpenAIMock


@pytest.fixture(scope="module")
def pusher() -> Iterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    async def push(request: Request) -> Response:
        received.append(await request.json())
        return JSONResponse({"success": True})

    server = ServerThread(Starlette(routes=[Route("/push", push, methods=["POST"])]), lifespan="off").start()
    yield received, server.url + "/push"
    server.stop()


def test_a_channel_disabled_by_its_test_is_announced(gateway: Gateway, mock: OpenAIMock, mock_url: str,
                                                     pusher: tuple[list[dict[str, Any]], str]) -> None:
    received, address = pusher
    received.clear()
    for key, value in (("MessagePusherAddress", address), ("MessagePusherToken", "push-token"),
                       ("AutomaticDisableChannelEnabled", "true")):
        gateway.api("PUT", "/api/option/", json={"key": key, "value": value})
    mock.plan("gpt-4o-mini", status=401, error={"error": {"message": "Incorrect API key provided",
                                                          "type": "invalid_request_error", "code": "invalid_api_key"}})
    channel = gateway.add_channel(mock_url, name="broken", models="gpt-4o-mini")
    # One API applies the auto-disable rules in a test run of all channels, not in a single test.
    gateway.api("GET", "/api/channel/test", params={"scope": "all"})
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received and received[0]["token"] == "push-token"
    assert f"#{channel}" in received[0]["title"] and "disabled" in received[0]["content"]
