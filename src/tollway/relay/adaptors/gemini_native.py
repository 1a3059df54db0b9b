"""Gemini native requests passed through to Gemini channels (24) and Vertex AI's Gemini models (42).

generateContent, streamGenerateContent and the embedding calls go upstream as the client sent them, to the same
action of the channel's model; answers come back as Google wrote them. Usage comes from usageMetadata
(cumulative in every stream event); embeddings report none, so the pipeline counts their text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.failures import json_object, obj
from tollway.relay.adaptors.gemini_answer import gemini_usage
from tollway.relay.adaptors.gemini_errors import google_error, rpc_error
from tollway.relay.adaptors.passthrough import EventStream, Passthrough, inbound_of, mapped_body
from tollway.relay.calls import Call

STREAM = "streamGenerateContent"
GENERATE = ("generateContent", STREAM)
EMBED = ("embedContent", "batchEmbedContents")


def _texts(data: dict[str, Any]) -> list[str]:
    """The non-thought text of every candidate (counted only when usageMetadata is missing)."""
    found = []
    candidates = data.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        parts = obj(obj(candidate).get("content")).get("parts")
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part.get("thought") is not True:
                found.append(part["text"])
    return found


class GeminiEventStream(EventStream):
    """Gemini's SSE relayed byte for byte: usage from the last usageMetadata, the end from a finishReason."""

    def read(self, event: dict[str, Any]) -> bool:
        error = event.get("error")
        if isinstance(error, dict):
            self.state.error = rpc_error(error)
            return False
        usage = gemini_usage(event.get("usageMetadata"))
        if usage is not None:
            self.state.usage = usage
        self.state.text += _texts(event)
        candidates = event.get("candidates")
        if isinstance(candidates, list) and any(isinstance(c, dict) and c.get("finishReason") for c in candidates):
            self.state.finished = True
        return False  # every event carries the answer: nothing is held


class GeminiNative(Passthrough):
    """Gemini API requests sent as they came to `{base}/{version}/models/{model}:{action}` of the channel."""

    def __init__(self, family: Adaptor, url: Callable[[Target, str, dict[str, Any]], str],
                 headers: Callable[[Target], dict[str, str]]) -> None:
        super().__init__(family)
        # The channel's URL of a model's action (with the body, which may decide Gemini's API version).
        self.url = url
        self.headers = headers

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        inbound = inbound_of(call)
        action = inbound.action
        headers = {"Content-Type": "application/json", **self.headers(target)}
        url = self.url(target, action, inbound.body)
        if action == STREAM:
            headers["Accept"] = "text/event-stream"
            url += "?alt=sse"
        content = inbound.raw
        if action == "batchEmbedContents":
            content = mapped_body(inbound, None, extra={"requests": _renamed(inbound.body, target.model)})
        return UpstreamRequest("POST", url, headers, content, stream=action == STREAM)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        if isinstance(data.get("error"), dict):
            raise google_error(status if status >= 400 else 502, body)
        usage = gemini_usage(data.get("usageMetadata"))
        return Answer(200, body, "application/json", usage=usage, text="" if usage else "".join(_texts(data)))

    def translator(self, call: Call, target: Target) -> GeminiEventStream:
        return GeminiEventStream()

    def error(self, status: int, body: bytes) -> UpstreamError:
        return google_error(status, body)


def _renamed(body: dict[str, Any], model: str) -> list[Any]:
    """batchEmbedContents' requests, each naming the channel's model (Google wants the one in the URL)."""
    requests = body.get("requests")
    return [{**request, "model": f"models/{model}"} if isinstance(request, dict) else request
            for request in (requests if isinstance(requests, list) else ())]


def model_url(base: str, model: str, action: str) -> str:
    """`{base}/models/{model}:{action}` with the model quoted for a path."""
    return f"{base}/models/{quote(model.removeprefix('models/'), safe='')}:{action}"
