"""Root's options: listed without secrets, set one at a time with type checks, applied at once."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.admin.support import Cast, data, refused, rows, snapshot
from tests.harness import Gateway

SECRETS = {
    "SMTPToken": "smtp-secret-value-1",
    "GitHubClientSecret": "github-secret-value-2",
    "TurnstileSecretKey": "turnstile-secret-value-3",
    "WeChatServerToken": "wechat-secret-value-4",
    "LarkClientSecret": "lark-secret-value-5",
    "OidcClientSecret": "oidc-secret-value-6",
    "MessagePusherToken": "pusher-secret-value-7",
}


def options(gateway: Gateway) -> dict[str, str]:
    """GET /api/option/ as a dict."""
    listed = data(gateway.admin.get("/api/option/"))
    assert all(set(item) == {"key", "value"} and isinstance(item["value"], str) for item in listed)
    return {item["key"]: item["value"] for item in listed}


def put(gateway: Gateway, key: str, value: Any) -> httpx.Response:
    return gateway.admin.put("/api/option/", json={"key": key, "value": value})


def test_secrets_are_stored_but_never_listed(gateway: Gateway) -> None:
    """Secret options can be set, are stored, and never appear in GET /api/option/ or /api/status."""
    for key, value in SECRETS.items():
        data(put(gateway, key, value))
    listed = gateway.admin.get("/api/option/").text
    status = gateway.admin.get("/api/status").text
    for key, value in SECRETS.items():
        assert key not in listed and value not in listed and value not in status
    stored = dict(rows(gateway, "SELECT key, value FROM options"))
    assert {key: stored[key] for key in SECRETS} == SECRETS


def test_listing_has_one_api_names_and_string_values(gateway: Gateway) -> None:
    """Options are listed as One API's `{key, value}` pairs with values as strings (booleans as true/false)."""
    listed = options(gateway)
    assert listed["QuotaPerUnit"] == "500000" and listed["PasswordLoginEnabled"] == "true"
    assert listed["SMTPPort"] == "587" and listed["SystemName"] == "Tollway"
    assert json.loads(listed["GroupRatio"]) == {"default": 1, "vip": 1, "svip": 1}
    assert isinstance(json.loads(listed["ModelRatio"])["gpt-4o-mini"], float | int)


def test_values_are_parsed_by_type(gateway: Gateway) -> None:
    """Booleans, numbers and ratio tables are accepted as JSON values or as One API's strings."""
    data(put(gateway, "LogConsumeEnabled", False))
    data(put(gateway, "DisplayTokenStatEnabled", "false"))
    data(put(gateway, "RetryTimes", 3))
    data(put(gateway, "PreConsumedQuota", "800"))
    data(put(gateway, "ChannelDisableThreshold", 2.5))
    data(put(gateway, "GroupRatio", {"default": 1, "team": 0.5}))
    data(put(gateway, "CompletionRatio", '{"my-model": 2}'))
    data(put(gateway, "Footer", None))  # One API's Option.Value is a string: null arrives as ""
    listed = options(gateway)
    assert (listed["LogConsumeEnabled"], listed["DisplayTokenStatEnabled"]) == ("false", "false")
    assert (listed["RetryTimes"], listed["PreConsumedQuota"], listed["ChannelDisableThreshold"]) == ("3", "800", "2.5")
    assert json.loads(listed["GroupRatio"]) == {"default": 1, "team": 0.5}
    assert json.loads(listed["CompletionRatio"])["my-model"] == 2
    assert listed["Footer"] == ""
    stored = dict(rows(gateway, "SELECT key, value FROM options"))
    assert stored["LogConsumeEnabled"] == "false" and stored["RetryTimes"] == "3"


def test_bad_values_are_refused_and_change_nothing(gateway: Gateway) -> None:
    """A value of the wrong type, out of range or not finite is refused with a message naming the option."""
    before, stored = options(gateway), snapshot(gateway)
    bad: list[tuple[str, Any]] = [
        ("PasswordLoginEnabled", "yes"), ("PasswordLoginEnabled", 2), ("PasswordLoginEnabled", {"on": True}),
        ("RetryTimes", "three"), ("RetryTimes", "-1"), ("RetryTimes", [1]), ("SMTPPort", "inf"),
        ("SMTPPort", "1e30"), ("QuotaPerUnit", "0"), ("QuotaPerUnit", "-5"), ("QuotaPerUnit", "nan"),
        ("QuotaPerUnit", "inf"), ("QuotaPerUnit", "abc"), ("ChannelDisableThreshold", "-1"),
        ("ModelRatio", "not json"), ("ModelRatio", "[1, 2]"), ("ModelRatio", '{"gpt-4o": "cheap"}'),
        ("ModelRatio", '{"gpt-4o": -1}'), ("ModelRatio", '{"gpt-4o": NaN}'), ("ModelRatio", '{"gpt-4o": Infinity}'),
        ("ModelRatio", '{"gpt-4o": true}'), ("GroupRatio", 5), ("CompletionRatio", '{"a": 1e400}'),
    ]
    for key, value in bad:
        refused(put(gateway, key, value), 200, key)
    refused(put(gateway, "NoSuchOption", "1"), 200, "NoSuchOption")
    refused(gateway.admin.put("/api/option/", json={"value": "1"}), 200, "key")
    refused(gateway.admin.put("/api/option/", json={"key": "Notice"}), 200, "value")
    refused(gateway.admin.put("/api/option/", json={"key": 5, "value": "1"}), 200, "key")
    refused(gateway.admin.put("/api/option/", content=b'{"key": "Notice", "value": '), 200, "JSON")
    refused(gateway.admin.put("/api/option/", content=b'["Notice", "x"]'), 200, "object")
    assert options(gateway) == before
    assert snapshot(gateway) == stored


def test_sign_in_methods_need_their_settings_first(gateway: Gateway) -> None:
    """Like One API, GitHub, WeChat and Turnstile cannot be switched on before their ids or addresses are set."""
    for flag, needed, value in (("GitHubOAuthEnabled", "GitHubClientId", "gh-client"),
                                ("WeChatAuthEnabled", "WeChatServerAddress", "https://wechat.example"),
                                ("TurnstileCheckEnabled", "TurnstileSiteKey", "site-key")):
        refused(put(gateway, flag, "true"), 200, needed)
        assert options(gateway)[flag] == "false"
        data(put(gateway, flag, "false"))  # switching off is always allowed
        data(put(gateway, needed, value))
        data(put(gateway, flag, "true"))
        assert options(gateway)[flag] == "true"
    status = data(gateway.admin.get("/api/status"))
    assert status["github_oauth"] is True and status["github_client_id"] == "gh-client"
    assert status["turnstile_check"] is True and status["turnstile_site_key"] == "site-key"
    data(put(gateway, "EmailDomainWhitelist", ""))
    refused(put(gateway, "EmailDomainRestrictionEnabled", "true"), 200, "whitelist")


def test_changes_take_effect_immediately(gateway: Gateway, alice: tuple[int, httpx.Client]) -> None:
    """A changed option is visible at once: QuotaPerUnit in /api/status, RegisterEnabled, PasswordLoginEnabled."""
    data(put(gateway, "QuotaPerUnit", "1000000"))
    assert data(httpx.get(gateway.url + "/api/status"))["quota_per_unit"] == 1_000_000
    data(put(gateway, "QuotaPerUnit", 250000.5))
    assert data(httpx.get(gateway.url + "/api/status"))["quota_per_unit"] == 250000.5
    data(put(gateway, "RegisterEnabled", "false"))
    assert data(httpx.get(gateway.url + "/api/status"))["register_enabled"] is False
    data(put(gateway, "PasswordLoginEnabled", "false"))
    refused(httpx.post(gateway.url + "/api/user/login", json={"username": "alice", "password": "x" * 10}), 200)


def test_options_are_root_only(cast: Cast) -> None:
    """Admins and common users get One API's 200 refusal, anonymous callers 401; nothing changes."""
    before = snapshot(cast.gateway)
    for actor in (cast.anonymous, cast.alice, cast.bob, cast.admin):
        status = 401 if actor.role == 0 else 200
        refused(actor.client.get("/api/option/"), status)
        refused(actor.client.put("/api/option/", json={"key": "QuotaPerUnit", "value": "1"}), status)
    assert snapshot(cast.gateway) == before


def test_formats_are_checked_and_values_normalised(gateway: Gateway) -> None:
    """Addresses, hosts, mail senders, domain lists, themes and ratio names are checked when set; nothing changes
    when one is refused, and accepted values are stored trimmed and normalised."""
    before, stored = options(gateway), snapshot(gateway)
    bad: list[tuple[str, Any, str]] = [
        ("ServerAddress", "localhost:3000", "http"), ("ServerAddress", "ftp://files.example", "http"),
        ("ServerAddress", "https://", "http"), ("OidcTokenEndpoint", "https://id.example/ token", "http"),
        ("TopUpLink", "javascript:alert(1)", "http"), ("Logo", "data:text/html,<script>", "http"),
        ("ChatLink", "https://chat.example/" + "x" * 2100, "2048"),
        ("SMTPServer", "smtp://mail.example", "host"), ("SMTPServer", "mail.example:587", "SMTPPort"),
        ("SMTPServer", "mail example", "host"), ("SMTPPort", 0, "between"), ("SMTPPort", 70000, "between"),
        ("SMTPFrom", "not an address", "email"), ("SMTPFrom", "Tollway <noreply@example.com>", "email"),
        ("EmailDomainWhitelist", "gmail.com, not a domain", "not a domain"),
        ("EmailDomainWhitelist", "exa_mple.com", "domain"), ("Theme", "dark", "default, berry, air"),
        ("GroupRatio", {"a,b": 1}, "commas"), ("GroupRatio", {"x" * 33: 1}, "32"), ("GroupRatio", {" ": 1}, "empty"),
        ("ModelRatio", {"m" * 192: 1}, "191"), ("Notice", "n" * 70000, "bytes"),
    ]
    for key, value, fragment in bad:
        refused(put(gateway, key, value), 200, key, fragment)
    assert options(gateway) == before
    assert snapshot(gateway) == stored
    for key, value in (("ServerAddress", " https://gw.example.com/ "), ("WeChatServerAddress", "http://10.0.0.5:3000/"),
                       ("SMTPServer", " smtp.example.com "), ("SMTPFrom", "noreply@example.com"),
                       ("EmailDomainWhitelist", " Gmail.com,@corp.example, gmail.com ,"), ("Theme", "berry"),
                       ("Logo", "data:image/png;base64,iVBORw0KGgo="), ("TopUpLink", ""), ("SMTPServer", "::1"),
                       ("GroupRatio", {"default": 1, "team-a": 0.5})):
        data(put(gateway, key, value))
    listed = options(gateway)
    assert listed["ServerAddress"] == "https://gw.example.com"
    assert listed["WeChatServerAddress"] == "http://10.0.0.5:3000"
    assert listed["EmailDomainWhitelist"] == "gmail.com,corp.example"
    assert (listed["Theme"], listed["SMTPFrom"], listed["SMTPServer"]) == ("berry", "noreply@example.com", "::1")


def test_what_an_enabled_sign_in_needs_cannot_be_emptied(gateway: Gateway) -> None:
    """With GitHub sign-in on, its client id cannot be cleared; switching it off first allows it."""
    data(put(gateway, "GitHubClientId", "gh-client"))
    data(put(gateway, "GitHubOAuthEnabled", True))
    refused(put(gateway, "GitHubClientId", " "), 200, "GitHubOAuthEnabled", "GitHubClientId")
    assert options(gateway)["GitHubClientId"] == "gh-client"
    data(put(gateway, "GitHubOAuthEnabled", False))
    data(put(gateway, "GitHubClientId", ""))
    data(put(gateway, "EmailDomainWhitelist", "example.com"))
    data(put(gateway, "EmailDomainRestrictionEnabled", "true"))
    refused(put(gateway, "EmailDomainWhitelist", ", ,"), 200, "EmailDomainRestrictionEnabled")
