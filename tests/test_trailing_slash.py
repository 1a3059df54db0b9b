"""gin's trailing-slash redirects: the rule on its own, then through a running gateway's /api, /v1 and /dashboard."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import Gateway
from tollway.admin.routes import api_routes
from tollway.trailing_slash import RELAY_ROUTES, Redirect, RouteTable, redirect

API = RouteTable.of("/api", api_routes())
RELAY = RouteTable(RELAY_ROUTES)


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    # One API's web UI sends these; gin redirects each to its route (301 for GET, 307 keeps method and body).
    ("DELETE", "/api/channel/1/", "", Redirect(307, "/api/channel/1")),
    ("DELETE", "/api/token/3/", "", Redirect(307, "/api/token/3")),
    ("DELETE", "/api/redemption/1/", "", Redirect(307, "/api/redemption/1")),
    ("GET", "/api/channel/update_balance/1/", "", Redirect(301, "/api/channel/update_balance/1")),
    ("GET", "/api/log/self/", "p=0&type=0", Redirect(301, "/api/log/self?p=0&type=0")),
    # The reverse, where gin registers the slashed form.
    ("GET", "/api/user", "p=0", Redirect(301, "/api/user/?p=0")),
    ("POST", "/api/channel", "", Redirect(307, "/api/channel/")),
    ("PUT", "/api/token", "status_only=true", Redirect(307, "/api/token/?status_only=true")),
    ("GET", "/api/group", "", Redirect(301, "/api/group/")),
    ("POST", "/v1/chat/completions/", "", Redirect(307, "/v1/chat/completions")),
    ("GET", "/v1/models/", "", Redirect(301, "/v1/models")),
    ("GET", "/v1/models/gpt-4o/", "", Redirect(301, "/v1/models/gpt-4o")),
    ("GET", "/dashboard/billing/usage/", "", Redirect(301, "/dashboard/billing/usage")),
    ("GET", "/v1/dashboard/billing/subscription/", "", Redirect(301, "/v1/dashboard/billing/subscription")),
])
def test_a_path_one_slash_away_is_redirected(method: str, path: str, query: str, expected: Redirect) -> None:
    """A miss by one final slash answers the route's form, with the query kept."""
    table = RELAY if path.startswith(("/v1", "/dashboard")) else API
    assert redirect(method, path, table, query) == expected


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/channel/"),  # a route itself: no redirect
    ("GET", "/api/log/self"),
    ("GET", "/api/nothing/"),  # neither form exists
    ("POST", "/api/channel/1/"),  # only DELETE and GET serve /api/channel/:id: gin looks in the method's own tree
    ("PATCH", "/api/channel"),
    ("GET", "/v1/chat/completions/"),
    ("GET", "/"),
    ("CONNECT", "/api/user"),
])
def test_no_redirect_without_a_route_of_that_method(method: str, path: str) -> None:
    table = RELAY if path.startswith("/v1") else API
    assert redirect(method, path, table) is None


def test_parameters_match_one_segment_and_path_parameters_the_rest() -> None:
    table = RouteTable([("GET", "/a/{id}"), ("GET", "/b/{rest:path}"), ("get", "/c/{n:int}/d")])
    assert table.serves("GET", "/a/x") and not table.serves("GET", "/a/x/y") and not table.serves("GET", "/a/")
    assert table.serves("GET", "/b/x/y/") and table.serves("GET", "/c/7/d") and not table.serves("POST", "/a/x")
    assert redirect("GET", "/a/x/", table) == Redirect(301, "/a/x")


def test_one_api_ui_paths_are_redirected_and_followed(gateway: Gateway) -> None:
    """Through the gateway: the redirect is gin's, and following it reaches the route (the body sent again)."""
    channel = gateway.add_channel("http://127.0.0.1:9")
    admin = gateway.admin
    answer = admin.get("/api/log/self/", params={"p": 0, "type": 0})
    assert (answer.status_code, answer.headers["location"]) == (301, "/api/log/self?p=0&type=0")
    assert answer.headers["content-type"].startswith("text/html")
    answer = admin.delete(f"/api/channel/{channel}/")
    assert (answer.status_code, answer.headers["location"], answer.content) == (307, f"/api/channel/{channel}", b"")
    with httpx.Client(base_url=gateway.url, headers=dict(admin.headers), follow_redirects=True) as following:
        assert following.delete(f"/api/channel/{channel}/").json() == {"success": True, "message": "", "data": None}
        created = following.post("/api/token", json={"name": "via 307", "unlimited_quota": True}).json()
        assert created["success"] and created["data"]["name"] == "via 307"
        assert following.get("/api/user", params={"p": 0}).json()["success"]
    # A path that is not one slash away from a route stays One API's 404.
    missing = admin.get("/api/nothing/")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Invalid URL (GET /api/nothing/)"


def test_relay_and_dashboard_paths_are_redirected(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url) as client:
        answer = client.post("/v1/chat/completions/", json={"model": "gpt-4o-mini"})
        assert (answer.status_code, answer.headers["location"]) == (307, "/v1/chat/completions")
        answer = client.get("/dashboard/billing/usage/?x=1")
        assert (answer.status_code, answer.headers["location"]) == (301, "/dashboard/billing/usage?x=1")
        assert client.get("/v1/no/such/").status_code == 404
        assert client.get("/dashboard/nothing").status_code == 404
