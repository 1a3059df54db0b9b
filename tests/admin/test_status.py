"""Public system information (/api/status, notice, about, home page) and the model and group lists."""

from __future__ import annotations

import httpx

import tollway
from tests.admin.support import data, refused
from tests.harness import Gateway

# The keys of One API's GetStatus (controller/misc.go); front-ends read these by name.
ONE_API_STATUS_KEYS = {
    "version", "start_time", "email_verification", "github_oauth", "github_client_id", "lark_client_id",
    "system_name", "logo", "footer_html", "wechat_qrcode", "wechat_login", "server_address", "turnstile_check",
    "turnstile_site_key", "top_up_link", "chat_link", "quota_per_unit", "display_in_currency", "oidc",
    "oidc_client_id", "oidc_well_known", "oidc_authorization_endpoint", "oidc_token_endpoint",
    "oidc_userinfo_endpoint",
}


def test_status_is_public_and_has_one_api_fields(gateway: Gateway) -> None:
    """Anyone reads /api/status with every field One API's front-ends expect."""
    with httpx.Client(base_url=gateway.url) as anonymous:
        response = anonymous.get("/api/status")
    assert response.headers["content-type"].startswith("application/json")
    status = data(response)
    assert set(status) >= ONE_API_STATUS_KEYS
    assert status["quota_per_unit"] == 500000
    assert status["display_in_currency"] is True
    assert status["github_oauth"] is False and status["turnstile_check"] is False
    assert isinstance(status["start_time"], int) and status["start_time"] > 0
    assert status["system_name"] == "Tollway"
    # One API's UI never flags v0.0.0 as "new version available"; Tollway's version has its own field.
    assert status["version"] == "v0.0.0" and status["tollway_version"] == tollway.__version__


def test_text_options_are_public_and_follow_changes(gateway: Gateway) -> None:
    """Notice, About and HomePageContent are readable without signing in and change as root edits them."""
    with httpx.Client(base_url=gateway.url) as anonymous:
        for path in ("/api/notice", "/api/about", "/api/home_page_content"):
            assert data(anonymous.get(path)) == ""
        for key, path in (("Notice", "/api/notice"), ("About", "/api/about"),
                          ("HomePageContent", "/api/home_page_content")):
            text = f"# {key}\n<b>markdown & html</b> 你好"
            data(gateway.admin.put("/api/option/", json={"key": key, "value": text}))
            assert data(anonymous.get(path)) == text


def test_status_reflects_branding_options(gateway: Gateway) -> None:
    """SystemName, Footer, TopUpLink and ChatLink set by root show in /api/status at once."""
    for key, value in (("SystemName", "Acme AI"), ("Footer", "<p>footer</p>"), ("TopUpLink", "https://pay.example"),
                       ("ChatLink", "https://chat.example"), ("DisplayInCurrencyEnabled", "false")):
        data(gateway.admin.put("/api/option/", json={"key": key, "value": value}))
    status = data(gateway.admin.get("/api/status"))
    assert status["system_name"] == "Acme AI"
    assert status["footer_html"] == "<p>footer</p>"
    assert status["top_up_link"] == "https://pay.example"
    assert status["chat_link"] == "https://chat.example"
    assert status["display_in_currency"] is False


def test_models_by_channel_type_needs_a_signed_in_user(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """/api/models maps each channel type number to its default models, for any signed-in user."""
    with httpx.Client(base_url=gateway.url) as anonymous:
        refused(anonymous.get("/api/models"), 401)
    models = data(alice[1].get("/api/models"))
    assert isinstance(models, dict)
    assert all(key.isdigit() and isinstance(names, list) for key, names in models.items())
    assert "gpt-4o-mini" in models["1"]  # OpenAI's channel type


def test_groups_are_the_group_ratio_keys_for_admins(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """/api/group/ lists GroupRatio's keys to admins only, and follows a change of GroupRatio."""
    with httpx.Client(base_url=gateway.url) as anonymous:
        refused(anonymous.get("/api/group/"), 401)
    refused(alice[1].get("/api/group/"), 200, "permission")
    assert sorted(data(gateway.admin.get("/api/group/"))) == ["default", "svip", "vip"]
    data(gateway.admin.put("/api/option/", json={"key": "GroupRatio", "value": '{"default": 1, "team": 0.5}'}))
    assert sorted(data(gateway.admin.get("/api/group/"))) == ["default", "team"]


def test_unknown_api_path_is_one_api_not_found(gateway: Gateway) -> None:
    """An unknown /api path answers One API's 404 `Invalid URL` error rather than a web page."""
    response = gateway.admin.get("/api/no/such/route")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /api/no/such/route)"
