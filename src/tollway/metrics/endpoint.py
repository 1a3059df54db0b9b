"""GET /metrics: Prometheus' text format behind a bearer secret (METRICS_TOKEN, else the MetricsToken option).

With neither set the route does not exist (One API's 404 "Invalid URL"). Rendering runs in a worker thread from
a snapshot of the live gauges, so a scrape never holds the event loop while it formats text.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from tollway.relay.routes import invalid_url_message

if TYPE_CHECKING:
    from tollway.services import Services


def metrics_secret(services: Services) -> str:
    return services.settings.metrics_token or services.cache.options.text("MetricsToken").strip()


async def metrics_endpoint(request: Request) -> Response:
    """The metrics, for a scraper that sends `Authorization: Bearer <secret>`."""
    services: Services = request.app.state.services
    secret = metrics_secret(services)
    if not secret:
        return Response(orjson.dumps(invalid_url_message(request.method, request.url.path)), status_code=404,
                        media_type="application/json")
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), secret.encode()):
        refusal = {"error": {"message": "send the metrics secret as Authorization: Bearer <secret>",
                             "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
        return Response(orjson.dumps(refusal), status_code=401, media_type="application/json",
                        headers={"WWW-Authenticate": "Bearer"})
    metrics = services.guards.metrics
    metrics.snapshot()
    body = await asyncio.to_thread(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
