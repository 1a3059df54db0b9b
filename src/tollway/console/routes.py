"""Every console page, the static files, and the console's answer for a page that does not exist."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tollway.console import channels, dashboard, logs, public, redemptions, settings, tokens, topup, users
from tollway.console.render import render

STATIC = Path(__file__).parent / "static"


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on their own; the console's icon (pages link the Logo option when it is set)."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=604800"})


async def not_found(request: Request) -> Response:
    return render(request, request.app.state.services, "error.html", status=404, code=404,
                  message="This page does not exist.")


def console_routes() -> list[BaseRoute]:
    """The console's routes, mounted at the site root after the API mounts."""
    modules = (
        public,
        # page modules
        dashboard, tokens, logs, topup,
        channels, redemptions, users,
        settings,
    )
    routes: list[BaseRoute] = [Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
                               Route("/favicon.ico", favicon, methods=["GET"])]
    for module in modules:
        routes.extend(module.routes())
    routes.append(Route("/{rest:path}", not_found, methods=["GET"]))
    return routes
