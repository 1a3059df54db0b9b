"""The channel's key and every credential Tollway sent never reach the client, the logs or channel test results."""

from __future__ import annotations

import logging
from urllib.parse import quote

import openai
import pytest

from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.redaction import REDACTED, redact, redact_error, secrets_of

# Azure-style keys carry base64's / + =, which JSON and URLs spell differently.
KEY = "sk-proj-Tz9/QnL+wX2mVb8Rk4Hs7Jd1Fg6=Pa3Ye5Uc0"
HI = [{"role": "user", "content": "hi"}]


def echoes(key: str) -> list[str]:
    """The ways providers and proxies have been seen quoting what they were sent."""
    return [f"Incorrect API key provided: Bearer {key}", f"Incorrect API key provided: {key}",
            f"invalid x-api-key: {key}", f"key={quote(key, safe='')} rejected", f"key={quote(key)} rejected",
            f"GET https://proxy.example/v1?key={quote(key, safe='')}&alt=sse failed",
            f'{{"sent": "{key.replace("/", chr(92) + "/")}"}}', f"Authorization: Bearer {key}"]


@pytest.mark.parametrize("text", echoes(KEY))
def test_every_spelling_of_the_key_is_removed(text: str) -> None:
    cleaned = redact(text, secrets_of(KEY))
    assert REDACTED in cleaned
    for spelling in (KEY, quote(KEY, safe=""), quote(KEY), KEY.replace("/", "\\/")):
        assert spelling not in cleaned


def test_credentials_of_the_request_are_removed() -> None:
    """Headers, signed query parameters, form fields and exchanged tokens, not just the channel key."""
    request = UpstreamRequest(
        "POST", "https://bedrock.example/model/invoke?X-Amz-Signature=5f1c0a9e8b7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
                "&X-Amz-Credential=AKIAEXAMPLEKEY123456%2F20240101%2Fus-east-1&region=us-east-1",
        {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY123456/20240101/us-east-1/bedrock/aws4_request, "
                          "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef",
         "x-goog-api-key": "AIzaSyExampleExampleExample", "x-amz-security-token": "FQoGZXIvYXdzEXAMPLETOKEN",
         "Content-Type": "application/json"},
        b"grant_type=client_credentials&client_id=appid&client_secret=baidu-secret-0123456789")
    secrets = secrets_of("AKIAEXAMPLEKEY123456|aws-secret-key-0123456789abcdef|us-east-1", request,
                         "24.exchanged-access-token.3600")
    text = ("sig 5f1c0a9e8b7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b; Signature=0123456789abcdef0123456789abcdef; "
            "AIzaSyExampleExampleExample; FQoGZXIvYXdzEXAMPLETOKEN; baidu-secret-0123456789; "
            "aws-secret-key-0123456789abcdef; AKIAEXAMPLEKEY123456; token 24.exchanged-access-token.3600; "
            "region us-east-1, content application/json")
    cleaned = redact(text, secrets)
    for secret in ("5f1c0a9e8b7d", "0123456789abcdef0123", "AIzaSy", "FQoGZX", "baidu-secret", "aws-secret-key",
                   "AKIAEXAMPLE", "exchanged-access-token"):
        assert secret not in cleaned, secret
    # Words that are not secrets stay readable.
    assert "region us-east-1, content application/json" in cleaned


def test_json_keys_and_short_strings() -> None:
    """A service-account key's private fields go; strings too short to be credentials are left alone."""
    vertex = '{"type": "service_account", "private_key_id": "abcdef0123456789", "client_email": "a@b.iam"}'
    assert redact("bad key id abcdef0123456789 for a@b.iam", secrets_of(vertex)) == f"bad key id {REDACTED} for a@b.iam"
    assert redact("mock says ab", secrets_of("ab")) == "mock says ab"


def test_redact_error_changes_the_message_in_place() -> None:
    error = UpstreamError(f"Incorrect API key provided: Bearer {KEY}", status_code=401)
    assert redact_error(error, KEY) is error
    assert error.message == f"Incorrect API key provided: Bearer {REDACTED}" and KEY not in str(error)


def test_relay_errors_never_carry_the_key(relay_with_key: Gateway, mock: OpenAIMock,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """Through the openai SDK: the error message, the process log and the logs table are free of the key."""
    gateway = relay_with_key
    caplog.set_level(logging.INFO)
    seen = []
    for index, text in enumerate(echoes(KEY)):
        model = f"m{index}"
        mock.plan(model, status=401, error={"error": {"message": text, "type": "invalid_request_error",
                                                      "param": None, "code": "invalid_api_key"}})
        with pytest.raises(openai.AuthenticationError) as raised:
            gateway.openai().chat.completions.create(model=model, messages=HI)
        seen.append(raised.value.message)
    # A body Tollway cannot read is quoted raw, with JSON's escaped slashes.
    mock.plan("raw", status=500, error=b'{"detail": "bad key ' + KEY.replace("/", "\\/").encode() + b'"}')
    with pytest.raises(openai.InternalServerError) as raw_failure:
        gateway.openai().chat.completions.create(model="raw", messages=HI)
    seen.append(raw_failure.value.message)
    assert all(REDACTED in message for message in seen), seen
    assert mock.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key really was sent
    gateway.flush()
    logged = gateway.admin.get("/api/log/", params={"size": 100}).text
    for spelling in (KEY, quote(KEY, safe=""), KEY.replace("/", "\\/"), quote(KEY)):
        assert all(spelling not in message for message in seen)
        assert spelling not in caplog.text and spelling not in logged


def test_channel_tests_never_show_the_key(relay_with_key: Gateway, mock: OpenAIMock) -> None:
    """The admin's test answer, the stored result and the test log are free of the key."""
    gateway = relay_with_key
    [channel] = [c for c in gateway.api("GET", "/api/channel/") if c["name"] == "keyed"]
    mock.plan("gpt-4o-mini", status=401, error={"error": {"message": f"Incorrect API key provided: Bearer {KEY}"}})
    answer = gateway.admin.get(f"/api/channel/test/{channel['id']}", params={"model": "gpt-4o-mini"}).json()
    assert answer["success"] is False and REDACTED in answer["message"]
    stored = gateway.admin.get("/api/channel/tests").text
    gateway.flush()
    logged = gateway.admin.get("/api/log/", params={"type": 5, "size": 100}).text
    assert REDACTED in stored and REDACTED in logged
    for text in (str(answer), stored, logged):
        assert KEY not in text and KEY.replace("/", "\\/") not in text


@pytest.fixture
def relay_with_key(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> Gateway:
    models = ",".join([f"m{i}" for i in range(len(echoes(KEY)))] + ["raw", "gpt-4o-mini"])
    gateway.add_channel(mock_url, key=KEY, models=models, name="keyed")
    return gateway
