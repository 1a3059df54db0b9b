"""Vertex AI translation: the service-account assertion and the publisher URLs."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.relay.adaptors.test_openai import channel
from tests.relay.providers.test_vertexai import KEY, account
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.vertexai import VertexAdaptor, assertion
from tollway.relay.calls import Mode, parse_json
from tollway.routing import channel_types

CHAT = parse_json(Mode.CHAT, b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def target(model: str, **config: str) -> Target:
    entry = channel(42, config={"vertex_ai_adc": account("https://oauth2.googleapis.com/token"), **config})
    return Target(entry, channel_types.get(42), model, credential="ya29.x")


def test_assertion_is_a_verifiable_rs256_jwt() -> None:
    token = assertion(json.loads(account("https://oauth2.googleapis.com/token")), now=1_700_000_000)
    header, claims, signature = token.split(".")
    KEY.public_key().verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    payload = json.loads(_unb64(claims))
    assert json.loads(_unb64(header)) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert payload == {"iss": "relay@proj.iam.gserviceaccount.com", "aud": "https://oauth2.googleapis.com/token",
                       "scope": "https://www.googleapis.com/auth/cloud-platform", "iat": 1_700_000_000,
                       "exp": 1_700_003_600}


@pytest.mark.parametrize("model,region,url", [
    ("gemini-2.5-pro", "us-central1", "https://us-central1-aiplatform.googleapis.com/v1/projects/proj-from-json/"
     "locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"),
    ("claude-3-5-haiku@20241022", "global", "https://aiplatform.googleapis.com/v1/projects/proj-from-json/"
     "locations/global/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict"),
])
def test_publisher_urls(model: str, region: str, url: str) -> None:
    request = VertexAdaptor().request(CHAT, target(model, region=region))
    assert request.url == url and request.headers["Authorization"] == "Bearer ya29.x"
    if model.startswith("claude"):
        body = json.loads(request.content)
        assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body


def test_only_chat_is_served() -> None:
    embed = parse_json(Mode.EMBEDDINGS, b'{"model":"text-embedding-004","input":"x"}')
    with pytest.raises(UpstreamError) as raised:
        VertexAdaptor().request(embed, target("text-embedding-004"))
    assert raised.value.retryable
