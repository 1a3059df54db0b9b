"""Google Vertex AI (channel type 42): Gemini and Claude models, reached with a service account's OAuth token.

The formats are Gemini's and Anthropic's own (reused from their adaptors); what is Vertex's is the URL
(project, region, publisher) and the credential: a JWT signed with the service account's private key,
traded at its token URI for an access token that the pipeline caches until shortly before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic import whole_answer
from tollway.relay.adaptors.anthropic_messages import messages_body
from tollway.relay.adaptors.anthropic_replies import claude_error
from tollway.relay.adaptors.anthropic_stream import AnthropicStream
from tollway.relay.adaptors.base import Adaptor, Answer, Exchange, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.claude_native import VertexClaudeNative
from tollway.relay.adaptors.failures import json_of, misconfigured, not_served
from tollway.relay.adaptors.gemini_answer import gemini_answer
from tollway.relay.adaptors.gemini_errors import google_error
from tollway.relay.adaptors.gemini_native import GENERATE, GeminiNative, model_url
from tollway.relay.adaptors.gemini_request import gemini_body
from tollway.relay.adaptors.gemini_stream import GeminiStream
from tollway.relay.adaptors.passthrough import GEMINI, MESSAGES
from tollway.relay.calls import Call, Mode

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_URI = "https://oauth2.googleapis.com/token"
ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_REGION = "us-central1"
_LIFETIME = 3600  # seconds an assertion is valid; Google's maximum


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account(target: Target) -> dict[str, Any]:
    """The service-account JSON of the channel: config `vertex_ai_adc`, or the key itself."""
    raw = target.channel.config.get("vertex_ai_adc") or target.channel.key
    try:
        account = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError as exc:
        raise misconfigured("this Vertex AI channel's vertex_ai_adc is not service-account JSON") from exc
    if not isinstance(account, dict) or not account.get("client_email") or not account.get("private_key"):
        raise misconfigured("this Vertex AI channel needs a service-account JSON with client_email and private_key")
    return account


def assertion(account: dict[str, Any], now: float) -> str:
    """The RS256-signed JWT a service account presents to Google's token endpoint."""
    header = {"alg": "RS256", "typ": "JWT", "kid": account.get("private_key_id", "")}
    issued = int(now)
    claims = {"iss": account["client_email"], "scope": SCOPE, "aud": account.get("token_uri") or TOKEN_URI,
              "iat": issued, "exp": issued + _LIFETIME}
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}".encode()
    try:
        key = serialization.load_pem_private_key(str(account["private_key"]).encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise misconfigured("the service account's private_key cannot be read") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise misconfigured("the service account's private_key is not an RSA key")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64url(signature)}"


def _read_token(status: int, body: bytes) -> tuple[str, float]:
    data = json_of(body)
    if status >= 400 or not isinstance(data, dict) or not data.get("access_token"):
        detail = data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
        raise UpstreamError(f"Vertex AI token exchange failed: {detail or f'status {status}'}", status_code=401,
                            code="credential_exchange_failed", retryable=True)
    return str(data["access_token"]), float(data.get("expires_in") or _LIFETIME)


def is_claude(model: str) -> bool:
    return model.startswith("claude")


class VertexAdaptor(Adaptor):
    """Translator for Vertex AI: Gemini through generateContent, Claude through rawPredict."""

    inline_images = True  # both Gemini and Claude take images as base64 here

    def __init__(self, *, safety: str = "BLOCK_NONE", clock: Callable[[], float] = time.time) -> None:
        self.safety = safety
        self.clock = clock
        self._claude = VertexClaudeNative(self, self.publishers)
        self._gemini = GeminiNative(self, self._gemini_url, self._bearer)

    def _gemini_url(self, target: Target, action: str, body: dict[str, Any]) -> str:
        return model_url(f"{self.publishers(target)}/google", target.model, action)

    @staticmethod
    def _bearer(target: Target) -> dict[str, str]:
        return {"Authorization": f"Bearer {target.credential}"}

    def credential(self, target: Target) -> Exchange:
        account = service_account(target)
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion(account, self.clock())}
        request = UpstreamRequest("POST", str(account.get("token_uri") or TOKEN_URI),
                                  {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form).encode())
        identity = hashlib.sha256(f"{account['client_email']}:{account.get('private_key_id', '')}".encode())
        return Exchange(f"vertexai:{target.channel.id}:{identity.hexdigest()[:16]}", request, _read_token)

    @staticmethod
    def publishers(target: Target) -> str:
        """The URL of the channel's project and region up to `/publishers` (Google's and Anthropic's models follow)."""
        channel = target.channel
        config = channel.config
        region = str(config.get("region") or DEFAULT_REGION)
        project = str(config.get("vertex_ai_project_id") or service_account(target).get("project_id") or "")
        if not project:
            raise misconfigured("this Vertex AI channel needs vertex_ai_project_id in its config")
        host = f"https://{'' if region == 'global' else region + '-'}aiplatform.googleapis.com"
        base = (channel.base_url or host).rstrip("/")
        return f"{base}/v1/projects/{quote(project)}/locations/{quote(region)}/publishers"

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise not_served(target.type.label, call.path)
        _channel, model = target.channel, target.model
        prefix = self.publishers(target)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.credential}"}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        if is_claude(model):
            body = messages_body(call, model)
            for name in ("model", "stream"):
                body.pop(name, None)
            body = {"anthropic_version": ANTHROPIC_VERSION, **body, "stream": call.stream}
            action = "streamRawPredict" if call.stream else "rawPredict"
            url = f"{prefix}/anthropic/models/{quote(model, safe='@')}:{action}"
        else:
            body = gemini_body(call, model, safety=self.safety)
            action = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
            url = f"{prefix}/google/models/{quote(model, safe='')}:{action}"
        return UpstreamRequest("POST", url, headers, orjson.dumps(body), stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        if is_claude(target.model):
            return whole_answer(call, status, body, target.model)
        return gemini_answer(call, body)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        return AnthropicStream(call, target.model) if is_claude(target.model) else GeminiStream(call)

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        # Claude models speak Anthropic's Messages API here, Google's models the Gemini API (but for embeddings).
        if inbound.api == MESSAGES and is_claude(target.model):
            return self._claude
        if inbound.api == GEMINI and inbound.action in GENERATE and not is_claude(target.model):
            return self._gemini
        return None

    def error(self, status: int, body: bytes) -> UpstreamError:
        # Vertex wraps failures in Google's RPC error shape, for Claude models too; Anthropic's own shape
        # appears only inside a Claude stream, which the Anthropic translator reads.
        if b'"type":"error"' in body.replace(b" ", b""):
            return claude_error(status, body)
        return google_error(status, body)
