"""GET /metrics on a running gateway: off without a secret, refused with a wrong one, Prometheus text with it."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Gateway, settings_for
from tests.routing.test_health import SERVER_ERROR, report


def scrape(gateway: Gateway, secret: str) -> httpx.Response:
    return httpx.get(gateway.url + "/metrics", headers={"Authorization": f"Bearer {secret}"})


def test_off_until_a_secret_is_set_then_behind_it(gateway: Gateway, mock_url: str) -> None:
    response = httpx.get(gateway.url + "/metrics")
    assert response.status_code == 404 and response.json()["error"]["message"] == "Invalid URL (GET /metrics)"
    gateway.api("PUT", "/api/option/", json={"key": "MetricsToken", "value": "option-secret"})
    assert "MetricsToken" not in {o["key"] for o in gateway.api("GET", "/api/option/")}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "option-secret"}):
        refused = httpx.get(gateway.url + "/metrics", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    channel = gateway.add_channel(mock_url, models="gpt-4o-mini")
    report(gateway, channel, "gpt-4o-mini", SERVER_ERROR, times=5)
    response = scrape(gateway, "option-secret")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert families["tollway_pairs_cooling"].samples[0].value == 1
    assert families["tollway_upstream_errors"].samples[0].labels == {"kind": "server_error"}
    assert families["tollway_upstream_errors"].samples[0].value == 5
    assert {"tollway_batch_queue_logs", "tollway_batch_queue_balances", "tollway_channels_disabling",
            "process_resident_memory_bytes", "python_gc_objects_collected"} <= set(families)


def test_the_environment_secret_wins(tmp_path: Path) -> None:
    gateway = Gateway(settings_for(tmp_path, METRICS_TOKEN="env-secret"))
    try:
        gateway.api("PUT", "/api/option/", json={"key": "MetricsToken", "value": "option-secret"})
        assert scrape(gateway, "option-secret").status_code == 401
        assert scrape(gateway, "env-secret").status_code == 200
    finally:
        gateway.close()
