"""Google Gemini (Generative Language API, channel type 24): URLs, API version and key; the format lives beside it.

Request and answer conversion (`gemini_request`, `gemini_answer`, `gemini_stream`) do not depend on the URL
or the credential, so Vertex AI reuses them with its own endpoint and OAuth token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from tollway.billing.tokenizer import Counter
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.failures import not_served
from tollway.relay.adaptors.gemini_answer import embeddings_answer, gemini_answer
from tollway.relay.adaptors.gemini_errors import google_error
from tollway.relay.adaptors.gemini_native import GeminiNative, model_url
from tollway.relay.adaptors.gemini_request import embedding_body, gemini_body
from tollway.relay.adaptors.gemini_stream import GeminiStream
from tollway.relay.adaptors.passthrough import GEMINI
from tollway.relay.calls import Call, Mode

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

# Models served only by v1beta (and what v1 lacks: systemInstruction, tools, JSON output, thinking).
_BETA_MODELS = ("gemini-1.5", "gemini-2", "gemini-3", "gemini-exp", "gemini-embedding", "gemma-", "learnlm")
_BETA_FIELDS = ("systemInstruction", "tools", "toolConfig")
_BETA_CONFIG = ("responseMimeType", "responseJsonSchema", "thinkingConfig")


def api_version(configured: str, model: str, body: dict[str, object]) -> str:
    """The API version to call: the configured one, moved from v1 to v1beta when the model or body needs it."""
    if configured != "v1":
        return configured
    config = body.get("generationConfig")
    needs_beta = (
        model.startswith(_BETA_MODELS) or "-exp" in model or "preview" in model or model.endswith("-latest")
        or any(name in body for name in _BETA_FIELDS)
        or (isinstance(config, dict) and any(name in config for name in _BETA_CONFIG))
    )
    return "v1beta" if needs_beta else configured


def embedding_tokens(call: Call, model: str) -> int:
    """Prompt tokens of an embeddings call, which Gemini does not report: texts counted, token arrays taken as is."""
    value = call.body.get("input")
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, int) for v in value)):
        value = [value]
    counter = Counter(model)
    total = 0
    for item in value if isinstance(value, list) else ():
        total += counter.text(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 0
    return total


class GeminiAdaptor(Adaptor):
    """Translator for Gemini channels: chat (whole and streamed, tools, vision, thinking) and embeddings."""

    inline_images = True

    def __init__(self, *, version: str = "v1", safety: str = "BLOCK_NONE") -> None:
        self.version = version
        self.safety = safety
        self._native = GeminiNative(self, self._native_url, self._key)

    def _base(self, target: Target, model: str, body: dict[str, Any]) -> str:
        """The channel's base URL with the API version this model and body need."""
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        return f"{base}/{api_version(str(target.channel.config.get('api_version') or self.version), model, body)}"

    def _native_url(self, target: Target, action: str, body: dict[str, Any]) -> str:
        model = target.model.removeprefix("models/")
        return model_url(self._base(target, model, body), model, action)

    @staticmethod
    def _key(target: Target) -> dict[str, str]:
        return {"x-goog-api-key": target.channel.key}

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        model = target.model.removeprefix("models/")
        stream = False
        if call.mode is Mode.CHAT:
            body = gemini_body(call, model, safety=self.safety)
            stream = call.stream
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        elif call.mode is Mode.EMBEDDINGS:
            body, action = embedding_body(call, model), "batchEmbedContents"
        else:
            raise not_served(target.type.label, call.path)
        headers = {"Content-Type": "application/json", **self._key(target)}
        if stream:
            headers["Accept"] = "text/event-stream"
        url = f"{self._base(target, model, body)}/models/{quote(model, safe='')}:{action}"
        return UpstreamRequest("POST", url, headers, orjson.dumps(body), stream=stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        if call.mode is Mode.EMBEDDINGS:
            return embeddings_answer(call, body, embedding_tokens(call, target.model))
        return gemini_answer(call, body)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        return GeminiStream(call)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return google_error(status, body)

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        return self._native if inbound.api == GEMINI else None
