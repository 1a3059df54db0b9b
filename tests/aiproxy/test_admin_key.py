"""ADMIN_KEY on AI Proxy's admin routes: root with the key (three ways to send it), 401 without, nothing when unset."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aiproxy.conftest import ADMIN_KEY
from tests.harness import Gateway, settings_for
from tollway.aiproxy.admin_key import AdminKey

ROUTES = [
    ("GET", "/api/channels/all?page=1&perPage=10", None),
    ("GET", "/api/channels/type_metas", None),
    ("POST", "/api/channel/", {"type": 1, "name": "x", "key": "k", "models": ["m"], "model_mapping": {}}),
    ("PUT", "/api/channel/1", {"name": "x"}),
    ("POST", "/api/channel/1/status", {"status": 2}),
    ("DELETE", "/api/channel/1", None),
    ("GET", "/api/logs/search?result_only=true&request_id=&code_type=all&p=1&per_page=20", None),
    ("GET", "/api/logs/detail/1", None),
    ("GET", "/api/dashboardv2/?timezone=Asia%2FShanghai&timespan=hour", None),
    ("POST", "/api/channels/import/oneapi", {"dsn": "/nonexistent.db"}),
]


def call(gateway: Gateway, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(method, gateway.url + path, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_wrong_or_missing_key_is_401(aiproxy: Gateway, method: str, path: str, body: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Bearer {ADMIN_KEY}x"}):
        answer = call(aiproxy, method, path, body, headers)
        assert answer.status_code == 401, (headers, answer.text)
        refusal = answer.json()
        assert refusal["success"] is False and refusal["message"] and "data" not in refusal
        assert ADMIN_KEY not in answer.text


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_unset_admin_key_refuses_everything(tmp_path: Path, method: str, path: str, body: Any) -> None:
    gateway = Gateway(settings_for(tmp_path))
    try:
        for headers in ({}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
            answer = call(gateway, method, path, body, headers)
            if (method, path) in (("POST", "/api/channel/"), ("DELETE", "/api/channel/1")):
                # One API's routes: without an admin key they answer One API's callers as before.
                assert answer.json()["success"] is False
                continue
            assert answer.status_code == 401 and answer.json()["success"] is False
            assert "admin key is not set" in answer.json()["message"]
    finally:
        gateway.close()


def test_the_ways_to_send_the_key(aiproxy: Gateway) -> None:
    """As AI Proxy's AdminAuth: `Authorization` with or without `Bearer ` and `sk-`, else `?key=`."""
    path = "/api/channels/all"
    for headers, query in (({"Authorization": f"Bearer {ADMIN_KEY}"}, ""),
                           ({"Authorization": f"Bearer sk-{ADMIN_KEY}"}, ""),
                           ({"Authorization": ADMIN_KEY}, ""),
                           ({}, f"?key={ADMIN_KEY}")):
        answer = call(aiproxy, "GET", path + query, None, headers)
        assert answer.status_code == 200 and answer.json() == {"success": True, "message": "", "data": []}
    # The header wins when present, as in AI Proxy: a wrong header is not saved by a right `?key=`.
    assert call(aiproxy, "GET", f"{path}?key={ADMIN_KEY}", None, {"Authorization": "Bearer no"}).status_code == 401


def test_the_key_is_compared_in_constant_time_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = AdminKey("s3cret")
    assert key.matches("Bearer sk-s3cret") and not key.matches("Bearer s3cre") and not key.matches("")
    assert compared == [(b"s3cret", b"s3cret"), (b"s3cre", b"s3cret")]
    assert "s3cret" not in repr(key) and "s3cret" not in str(key)
    assert not AdminKey("").matches("Bearer ") and not AdminKey("").is_set
