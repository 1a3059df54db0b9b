"""Relay token checks: One API's rules with OpenAI-style errors and the right status codes."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]


def chat(gateway: Gateway, key: str, model: str = "gpt-4o-mini") -> object:
    return gateway.openai(key).chat.completions.create(model=model, messages=HI)


def test_missing_and_unknown_keys_are_401(relay: Gateway, mock: OpenAIMock) -> None:
    response = httpx.post(relay.url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and "request id" in error["message"]
    with pytest.raises(openai.AuthenticationError):
        chat(relay, "sk-" + "x" * 48)
    assert mock.requests == []


def test_disabled_and_expired_tokens_are_401(relay: Gateway, mock: OpenAIMock) -> None:
    _, client = relay.create_user("alice", quota=10_000_000)
    key = relay.create_token(client, name="soon expired", expired_time=int(time.time()) + 3600)
    chat(relay, key)
    token = relay.api("GET", "/api/token/", client)[0]
    relay.api("PUT", "/api/token/", client, json={"id": token["id"], "expired_time": int(time.time()) - 10})
    with pytest.raises(openai.AuthenticationError, match="expired"):
        chat(relay, key)
    relay.api("PUT", "/api/token/", client, json={"id": token["id"], "expired_time": -1})
    relay.api("PUT", "/api/token/?status_only=1", client, json={"id": token["id"], "status": 2})
    with pytest.raises(openai.AuthenticationError, match="disabled"):
        chat(relay, key)


def test_exhausted_quota_is_403(relay: Gateway, mock: OpenAIMock) -> None:
    _, client = relay.create_user("bob", quota=10_000_000)
    key = relay.create_token(client, unlimited_quota=False, remain_quota=1)
    with pytest.raises(openai.PermissionDeniedError) as raised:
        chat(relay, key)
    assert raised.value.code == "insufficient_token_quota"
    _, poor = relay.create_user("carol", quota=0)
    with pytest.raises(openai.PermissionDeniedError) as raised:
        chat(relay, relay.create_token(poor))
    assert raised.value.code == "insufficient_user_quota"
    assert mock.requests == []


def test_model_allow_list_is_403(relay: Gateway, mock: OpenAIMock) -> None:
    _, client = relay.create_user("dave", quota=10_000_000)
    key = relay.create_token(client, models="gpt-3.5-turbo")
    chat(relay, key, "gpt-3.5-turbo")
    with pytest.raises(openai.PermissionDeniedError, match="gpt-4o-mini"):
        chat(relay, key, "gpt-4o-mini")


def test_subnet_allow_list_is_403(relay: Gateway, mock: OpenAIMock) -> None:
    _, client = relay.create_user("erin", quota=10_000_000)
    chat(relay, relay.create_token(client, name="local", subnet="127.0.0.0/8"))
    with pytest.raises(openai.PermissionDeniedError, match=r"127\.0\.0\.1"):
        chat(relay, relay.create_token(client, name="office", subnet="10.0.0.0/8,192.168.1.0/24"))


def test_disabled_user_is_refused(relay: Gateway, mock: OpenAIMock) -> None:
    _, client = relay.create_user("frank", quota=10_000_000)
    key = relay.create_token(client)
    relay.api("POST", "/api/user/manage", json={"username": "frank", "action": "disable"})
    with pytest.raises(openai.PermissionDeniedError, match="disabled"):
        chat(relay, key)


def test_channel_pinning_is_for_admins_only(relay: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    second = relay.add_channel(mock_url, key="sk-second")
    answer = chat(relay, f"sk-{'R' * 48}-{second}")
    assert answer is not None and mock.requests[-1].headers["authorization"] == "Bearer sk-second"
    _, client = relay.create_user("gina", quota=10_000_000)
    key = relay.create_token(client)
    with pytest.raises(openai.PermissionDeniedError, match="administrators"):
        chat(relay, f"{key}-{second}")


def test_pinned_disabled_channel_is_refused(relay: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    second = relay.add_channel(mock_url, key="sk-second", status=2)
    with pytest.raises(openai.PermissionDeniedError, match="disabled"):
        chat(relay, f"sk-{'R' * 48}-{second}")


def test_token_made_on_another_node_is_found(relay: Gateway, mock: OpenAIMock) -> None:
    """A key missing from memory is looked up in the database once (another node may have made it)."""
    import sqlite3

    db = sqlite3.connect(relay.settings.sqlite_path)
    db.execute("INSERT INTO tokens (user_id, key, status, name, created_time, accessed_time, expired_time,"
               " remain_quota, unlimited_quota, used_quota, models, subnet)"
               " VALUES (1, ?, 1, 'elsewhere', 0, 0, -1, 0, 1, 0, '', '')", ("E" * 48,))
    db.commit()
    db.close()
    chat(relay, "sk-" + "E" * 48)


def test_concurrent_first_uses_of_a_new_key_share_one_lookup(relay: Gateway, mock: OpenAIMock) -> None:
    """Fifty calls at once with a key made on another node: one database query finds it for all of them."""
    import asyncio
    import sqlite3

    from sqlalchemy import event

    db = sqlite3.connect(relay.settings.sqlite_path)
    db.execute("INSERT INTO tokens (user_id, key, status, name, created_time, accessed_time, expired_time,"
               " remain_quota, unlimited_quota, used_quota, models, subnet)"
               " VALUES (1, ?, 1, 'elsewhere', 0, 0, -1, 0, 1, 0, '', '')", ("F" * 48,))
    db.commit()
    db.close()
    lookups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM tokens" in statement:
            lookups.append(statement)

    auth = relay.services.auth
    engine = relay.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async def burst() -> list[object]:
            return list(await asyncio.gather(*(auth.caller("Bearer sk-" + "F" * 48, "127.0.0.1") for _ in range(50))))

        callers = relay.server.run(burst())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(lookups) == 1 and len({id(caller.token) for caller in callers}) == 1
