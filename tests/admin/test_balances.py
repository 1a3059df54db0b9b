"""Channel balances: each provider's answer read the way One API reads it, stored, and refused clearly otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.admin.support import data, refused, row
from tests.harness import Gateway, settings_for
from tests.upstreams.balance_mock import BalanceMock, shared

# Many calls of a module share one gateway from 127.0.0.1: the per-IP limits would refuse them (tests/accounts
# covers the limits).
NO_LIMITS = {"GLOBAL_API_RATE_LIMIT": 0, "CRITICAL_RATE_LIMIT": 0}

KEY = "sk-balance-key-0123456789"


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for this module's tests (each starts without channels and with auto-disable off)."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("balances"), **NO_LIMITS))
    yield gateway
    gateway.close()


@pytest.fixture
def gateway(shared_gateway: Gateway) -> Gateway:
    for channel in data(shared_gateway.admin.get("/api/channel/", params={"size": 100})):
        data(shared_gateway.admin.delete(f"/api/channel/{channel['id']}"))
    data(shared_gateway.admin.put("/api/option/", json={"key": "AutomaticDisableChannelEnabled", "value": "false"}))
    return shared_gateway


@pytest.fixture
def balances() -> Iterator[tuple[BalanceMock, str]]:
    """The balance mock, reset, and its URL."""
    mock, server = shared()
    mock.reset()
    yield mock, server.url
    mock.reset()


def add(gateway: Gateway, kind: int, url: str, *, by_config: bool, **fields: Any) -> int:
    """A channel of `kind` whose balance queries go to the mock (base URL, or config balance_url)."""
    body: dict[str, Any] = {"type": kind, "name": f"type {kind}", "key": KEY, "models": "gpt-4o-mini", **fields}
    if by_config:
        body["config"] = {"balance_url": url}
    else:
        body["base_url"] = url
    return int(data(gateway.admin.post("/api/channel/", json=body))[0]["id"])


def update(gateway: Gateway, channel_id: int) -> httpx.Response:
    return gateway.admin.get(f"/api/channel/update_balance/{channel_id}")


# (type, balance expected, path asked, query by config rather than base URL)
CASES = [
    (1, 120.0 - 20.5, "/v1/dashboard/billing/usage", False),  # OpenAI: hard limit less usage in cents
    (8, 120.0 - 20.5, "/v1/dashboard/billing/usage", False),  # Custom: the same at its base URL
    (4, 42.5, "/dashboard/billing/credit_grants", False),  # CloseAI: total_available
    (5, 12.34, "/sb-api/user/status", True),  # OpenAI-SB: data.credit (a string)
    (10, 88.8, "/api/report/getUserOverview", True),  # AI Proxy: data.totalPoints
    (12, 17.25, "/dashboard/billing/credit_grants", True),  # API2GPT: total_remaining
    (13, 42.5, "/dashboard/billing/credit_grants", True),  # AIGC2D: total_available
    (44, 66.6, "/v1/user/info", True),  # SiliconFlow: data.totalBalance (CNY)
    (36, 110.0, "/user/balance", True),  # DeepSeek: the CNY entry of balance_infos
    (20, 37.5, "/v1/credits", True),  # OpenRouter: total_credits - total_usage
]


@pytest.mark.parametrize("kind,expected,path,by_config", CASES)
def test_each_provider_shape(gateway: Gateway, balances: tuple[BalanceMock, str], kind: int, expected: float,
                             path: str, by_config: bool) -> None:
    """One API's single-channel answer `{success, message, balance}`; the balance is stored with its time."""
    mock, url = balances
    channel_id = add(gateway, kind, url, by_config=by_config)
    response = update(gateway, channel_id)
    body = response.json()
    assert response.status_code == 200 and body["success"] is True and body["message"] == "", body
    assert body["balance"] == pytest.approx(expected) and body["data"]["balance"] == pytest.approx(expected)
    stored = row(gateway, "channels", channel_id)
    assert stored["balance"] == pytest.approx(expected) and stored["balance_updated_time"] > 0
    assert data(gateway.admin.get(f"/api/channel/{channel_id}"))["balance"] == pytest.approx(expected)
    asked = mock.requests[-1]
    assert asked.path == path
    if kind == 10:
        assert asked.headers["api-key"] == KEY
    else:
        assert asked.headers["authorization"] == f"Bearer {KEY}"
    if kind == 5:
        assert f"api_key={KEY}" in asked.query
    if kind in (1, 8):
        assert [r.path for r in mock.requests] == ["/v1/dashboard/billing/subscription", path]
        assert "start_date=" in asked.query and "end_date=" in asked.query


def test_failures_say_why_and_store_nothing(gateway: Gateway, balances: tuple[BalanceMock, str]) -> None:
    """An error status, a provider-level error or a missing currency is a clear refusal; the balance is untouched."""
    mock, url = balances
    cases: list[tuple[int, str, Any, str]] = [
        (44, "/v1/user/info", {"code": 50001, "message": "invalid key", "data": {}}, "invalid key"),
        (36, "/user/balance", {"is_available": True, "balance_infos": [{"currency": "USD", "total_balance": "1"}]},
         "CNY"),
        (5, "/sb-api/user/status", {"msg": "api key not found", "data": None}, "api key not found"),
        (10, "/api/report/getUserOverview", {"success": False, "message": "bad key", "error_code": 7}, "bad key"),
        (20, "/v1/credits", {"data": {"total_credits": "lots"}}, "total_credits"),
    ]
    for kind, path, answer, fragment in cases:
        mock.answers[path] = answer
        channel_id = add(gateway, kind, url, by_config=True)
        refused(update(gateway, channel_id), 200, fragment)
        assert row(gateway, "channels", channel_id)["balance_updated_time"] == 0
    mock.fail["/v1/dashboard/billing/subscription"] = 401
    refused(update(gateway, add(gateway, 1, url, by_config=False)), 200, "401")
    unreachable = add(gateway, 8, "http://127.0.0.1:1", by_config=False)
    refused(update(gateway, unreachable), 200, "cannot reach")


def test_a_provider_quoting_the_key_never_shows_it(gateway: Gateway, balances: tuple[BalanceMock, str]) -> None:
    """A balance error that echoes the channel's key reaches the admin with the key redacted."""
    mock, url = balances
    mock.answers["/api/report/getUserOverview"] = {"success": False, "message": f"key {KEY} is invalid",
                                                    "error_code": 7}
    channel_id = add(gateway, 10, url, by_config=True)
    body = update(gateway, channel_id).json()
    assert body["success"] is False and "[redacted] is invalid" in body["message"] and KEY not in body["message"]
    failed = data(gateway.admin.get("/api/channel/update_balance"))["failed"]
    assert failed and all(KEY not in item["message"] for item in failed)


def test_unsupported_types_and_unknown_channels(gateway: Gateway, balances: tuple[BalanceMock, str]) -> None:
    """Types One API cannot query (Azure, Anthropic, ...) answer 'not supported'; an unknown id 'not found'."""
    _, url = balances
    azure = add(gateway, 3, url, by_config=False, other="2024-02-01")
    anthropic = add(gateway, 14, url, by_config=False)
    refused(update(gateway, azure), 200, "not supported", "Azure")
    refused(update(gateway, anthropic), 200, "not supported")
    refused(update(gateway, 999999), 200, "not found")


def test_update_all_enabled_channels(gateway: Gateway, balances: tuple[BalanceMock, str]) -> None:
    """Every enabled channel of a supported type is updated; the answer lists failures and skipped channels."""
    mock, url = balances
    good = [add(gateway, kind, url, by_config=True) for kind in (44, 36, 20)]
    broken = add(gateway, 10, url, by_config=True)
    mock.answers["/api/report/getUserOverview"] = {"success": False, "message": "expired", "error_code": 1}
    switched_off = add(gateway, 13, url, by_config=True, status=2)
    unsupported = add(gateway, 14, url, by_config=False)
    result = data(gateway.admin.get("/api/channel/update_balance"))
    assert result["updated"] == 3 and result["disabled"] == [] and result["skipped"] == 1
    assert result["balances"] == {str(good[0]): 66.6, str(good[1]): 110.0, str(good[2]): 37.5}
    assert [(f["id"], "expired" in f["message"]) for f in result["failed"]] == [(broken, True)]
    assert row(gateway, "channels", switched_off)["balance_updated_time"] == 0
    assert row(gateway, "channels", unsupported)["balance_updated_time"] == 0
    assert all(row(gateway, "channels", c)["balance_updated_time"] > 0 for c in good)


def test_update_all_disables_empty_channels_when_auto_disable_is_on(gateway: Gateway,
                                                                  balances: tuple[BalanceMock, str]) -> None:
    """A channel with nothing left is switched off (status 3) only when AutomaticDisableChannelEnabled is on."""
    mock, url = balances
    mock.answers["/v1/credits"] = {"data": {"total_credits": 10, "total_usage": 10}}
    empty = add(gateway, 20, url, by_config=True)
    assert data(gateway.admin.get("/api/channel/update_balance"))["disabled"] == []
    assert row(gateway, "channels", empty)["status"] == 1
    data(gateway.admin.put("/api/option/", json={"key": "AutomaticDisableChannelEnabled", "value": "true"}))
    assert data(gateway.admin.get("/api/channel/update_balance"))["disabled"] == [empty]
    assert row(gateway, "channels", empty)["status"] == 3
    assert gateway.services.cache.channels[empty].status == 3
