"""NUL and other control characters in names and text are refused with an envelope error on every database.

PostgreSQL cannot store or search for NUL (a driver error, so a 500); SQLite stores it. Both must refuse it
alike, change nothing, and name the problem.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.harness import ROOT_ACCESS_TOKEN, ROOT_PASSWORD, ROOT_TOKEN, Gateway
from tests.storage.conftest import Backend, backend, backend_server, postgres_server  # noqa: F401  (fixtures)
from tollway.admin.names import has_control

SQLITE_AND_POSTGRES = pytest.mark.parametrize("backend_server", ["sqlite", "postgresql"], indirect=True)
CONTROLS = ["a\x00b", "tab\there", "new\nline", "esc\x1b[31mred", "del\x7f", "nel\x85", "bidi\u202etxt.exe",
            "line\u2028sep"]
TOKEN = {"remain_quota": 0, "unlimited_quota": True, "expired_time": -1}
CHANNEL = {"type": 1, "key": "sk-x", "models": "gpt-4o-mini", "group": "default", "name": "c"}


def refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert body["success"] is False and body["message"], body
    for word in words:
        assert word in body["message"], body


def counts(gateway: Gateway) -> dict[str, int]:
    admin = gateway.admin
    return {"tokens": len(admin.get("/api/token/", params={"size": 100}).json()["data"]),
            "channels": len(admin.get("/api/channel/", params={"size": 100}).json()["data"]),
            "redemptions": len(admin.get("/api/redemption/", params={"size": 100}).json()["data"]),
            "users": len(admin.get("/api/user/", params={"size": 100}).json()["data"])}


def hostile_writes(gateway: Gateway, bad: str, channel_id: int, token_id: int, redemption_id: int) -> list[
        tuple[str, str, dict[str, Any]]]:
    """Every management write that takes a name (or a group of names), with `bad` in it."""
    return [
        ("POST", "/api/token/", {**TOKEN, "name": bad}),
        ("PUT", "/api/token/", {"id": token_id, "name": bad}),
        ("POST", "/api/token/", {**TOKEN, "name": "t", "models": f"gpt-4o,{bad}"}),
        ("POST", "/api/channel/", {**CHANNEL, "name": bad}),
        ("PUT", "/api/channel/", {"id": channel_id, "name": bad}),
        ("POST", "/api/channel/", {**CHANNEL, "group": f"default,{bad}"}),
        ("POST", "/api/channel/", {**CHANNEL, "models": f"gpt-4o,{bad}"}),
        ("POST", "/api/user/", {"username": bad, "password": "password-123"}),
        ("POST", "/api/user/", {"username": "newbie", "password": "password-123", "display_name": bad}),
        ("PUT", "/api/user/", {"id": 1, "group": bad}),
        ("PUT", "/api/user/self", {"display_name": bad}),
        ("POST", "/api/redemption/", {"name": bad, "quota": 1, "count": 1}),
        ("PUT", "/api/redemption/", {"id": redemption_id, "name": bad}),
        ("PUT", "/api/option/", {"key": "GroupRatio", "value": f'{{"default": 1, "{_json(bad)}": 2}}'}),
    ]


def _json(text: str) -> str:
    return text.encode("unicode_escape").decode().replace("\\x", "\\u00")


NUL_ELSEWHERE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/channel/", {**CHANNEL, "base_url": "http://upstream\x00.example"}),
    ("POST", "/api/channel/", {**CHANNEL, "system_prompt": "be nice\x00"}),
    ("POST", "/api/channel/", {**CHANNEL, "other": "\x00"}),
    ("POST", "/api/channel/", {**CHANNEL, "model_mapping": {"a\x00": "b"}}),
    ("PUT", "/api/option/", {"key": "Notice", "value": "hello\x00"}),
    ("POST", "/api/user/login", {"username": "root\x00", "password": "x"}),
]
NUL_QUERIES = [("/api/token/search", {"keyword": "a\x00"}), ("/api/user/search", {"keyword": "a\x00"}),
               ("/api/channel/search", {"keyword": "a\x00"}), ("/api/redemption/search", {"keyword": "a\x00"}),
               ("/api/log/", {"token_name": "a\x00", "model_name": "m\x00"}), ("/api/log/self", {"model_name": "\x00"}),
               ("/api/token/", {"p": "0", "x\x00": "1"})]


@SQLITE_AND_POSTGRES
async def test_control_characters_in_names_are_refused(backend: Backend) -> None:  # noqa: F811
    gateway = Gateway(backend.settings_with(INITIAL_ROOT_PASSWORD=ROOT_PASSWORD,
                                            INITIAL_ROOT_ACCESS_TOKEN=ROOT_ACCESS_TOKEN, INITIAL_ROOT_TOKEN=ROOT_TOKEN,
                                            BATCH_UPDATE_INTERVAL="0.2", GLOBAL_API_RATE_LIMIT="0",
                                            CRITICAL_RATE_LIMIT="0"))
    try:
        admin = gateway.admin
        channel_id = gateway.add_channel("http://127.0.0.1:1", name="good channel")
        token_id = gateway.api("POST", "/api/token/", json={**TOKEN, "name": "good token"})["id"]
        gateway.api("POST", "/api/redemption/", json={"name": "good code", "quota": 1, "count": 1})
        redemption_id = gateway.api("GET", "/api/redemption/")[0]["id"]
        before = counts(gateway)
        problems = []
        for bad in CONTROLS:
            for method, path, body in hostile_writes(gateway, bad, channel_id, token_id, redemption_id):
                response = admin.request(method, path, json=body)
                envelope = response.json()
                if response.status_code != 200 or envelope.get("success") is not False or not envelope["message"]:
                    problems.append(f"{method} {path} {bad!r}: {response.status_code} {response.text[:120]}")
        assert not problems, "\n".join(problems)
        for method, path, body in NUL_ELSEWHERE:
            refused(admin.request(method, path, json=body), "NUL")
        for path, params in NUL_QUERIES:
            refused(admin.get(path, params=params), "NUL")
        assert counts(gateway) == before
        assert gateway.api("GET", f"/api/channel/{channel_id}")["name"] == "good channel"
        assert gateway.api("GET", f"/api/token/{token_id}")["name"] == "good token"
        # Ordinary names, including non-Latin scripts and emoji, are still fine.
        for name in ("日本語のトークン", "café ☕", "team-a_b.c"):
            assert gateway.api("POST", "/api/token/", json={**TOKEN, "name": name})["name"] == name
    finally:
        gateway.close()


def test_what_counts_as_a_control_character() -> None:
    assert all(has_control(text) for text in CONTROLS)
    assert not any(has_control(text) for text in ("plain", "日本語", "emoji 👩‍👩‍👧", "Ω≈ç", "a b"))
