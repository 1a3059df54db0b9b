"""Bad input and upstream failures: a clear OpenAI-style error with the right status, and nothing changed."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.harness import ROOT_TOKEN, Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock

AUTH = {"Authorization": "Bearer sk-" + ROOT_TOKEN, "Content-Type": "application/json"}
HI = [{"role": "user", "content": "hi"}]


def root_quota(gateway: Gateway) -> int:
    return int(gateway.api("GET", "/api/user/self")["quota"])


@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', "'model' is required"),
    (b'{"model": 42, "messages": []}', "'model' must be a string"),
    (b'{"model": "gpt-4o-mini", "messages": "hello"}', "'messages'"),
    (b'{"model": "gpt-4o-mini", "messages": [{"content": "x"}]}', "role"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "'stream'"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}', "max_tokens"),
])
def test_bad_bodies_are_400_and_change_nothing(relay: Gateway, mock: OpenAIMock, body: bytes, fragment: str) -> None:
    before = root_quota(relay)
    response = httpx.post(relay.url + "/v1/chat/completions", content=body, headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert fragment in error["message"] and error["type"] == "invalid_request_error"
    relay.flush()
    assert mock.requests == [] and root_quota(relay) == before
    assert relay.api("GET", "/api/log/", params={"type": 2}) == []


def test_sdk_raises_bad_request(relay: Gateway) -> None:
    with pytest.raises(openai.BadRequestError):
        relay.openai().chat.completions.create(model="gpt-4o-mini", messages=[])


def test_unknown_model_is_503_no_channel(relay: Gateway, mock: OpenAIMock) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        relay.openai().chat.completions.create(model="no-such-model", messages=HI)
    assert raised.value.status_code == 503
    assert "no-such-model" in raised.value.message and "default" in raised.value.message
    assert mock.requests == []


def test_oversized_body_is_413(tmp_path: object, mock: OpenAIMock, mock_url: str) -> None:
    from pathlib import Path

    gateway = Gateway(settings_for(Path(str(tmp_path)), MAX_REQUEST_BODY_MB=1))
    try:
        gateway.add_channel(mock_url)
        huge = "x" * (1024 * 1024 + 10)
        with pytest.raises(openai.APIStatusError) as raised:
            gateway.openai().chat.completions.create(model="gpt-4o-mini",
                                                     messages=[{"role": "user", "content": huge}])
        assert raised.value.status_code == 413
        assert mock.requests == []
        # Without a Content-Length (chunked upload) the limit holds as well.
        def chunks() -> object:
            yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
            for _ in range(20):
                yield b"y" * 65536
            yield b'"}]}'
        response = httpx.post(gateway.url + "/v1/chat/completions", content=chunks(), headers=AUTH)
        assert response.status_code == 413
    finally:
        gateway.close()


def test_upstream_errors_keep_their_status(relay: Gateway, mock: OpenAIMock) -> None:
    mock.plan("gpt-4o-mini", status=400, error={"error": {"message": "bad temperature", "type":
                                                          "invalid_request_error", "param": "temperature",
                                                          "code": None}})
    before = root_quota(relay)
    with pytest.raises(openai.BadRequestError, match="bad temperature"):
        relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    relay.flush()
    # A failed call is refunded: no charge, no consume log.
    assert root_quota(relay) == before
    assert relay.api("GET", "/api/log/", params={"type": 2}) == []


def test_non_openai_error_bodies_are_understood(relay: Gateway, mock: OpenAIMock) -> None:
    """SiliconFlow answers `{"code":…, "message":…}` instead of OpenAI's shape."""
    mock.plan("gpt-4o-mini", status=403, error=b'{"code":30003,"message":"Model disabled.","data":null}')
    with pytest.raises(openai.PermissionDeniedError, match="Model disabled"):
        relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_upstream_unreachable_is_502(gateway: Gateway) -> None:
    gateway.add_channel("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(openai.InternalServerError) as raised:
        gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert raised.value.status_code == 502 and "cannot reach upstream" in raised.value.message
