"""The Anthropic family (channel type 14): OpenAI chat calls through Anthropic's Messages API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic_messages import messages_body, unsupported
from tollway.relay.adaptors.anthropic_replies import claude_error, openai_completion
from tollway.relay.adaptors.anthropic_stream import AnthropicStream
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.claude_native import ClaudeNative
from tollway.relay.adaptors.failures import json_object
from tollway.relay.adaptors.passthrough import MESSAGES
from tollway.relay.calls import Call, Mode

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

# The client's own anthropic-version header is not visible to adaptors; this is the version One API defaults to.
API_VERSION = "2023-06-01"


def whole_answer(call: Call, status: int, body: bytes, model: str) -> Answer:
    """An Anthropic message (from Anthropic or Bedrock) as an OpenAI chat.completion answer."""
    data = json_object(body)
    if data.get("type") == "error" or isinstance(data.get("error"), dict):
        raise claude_error(status if status >= 400 else 502, body)
    answer, usage, text = openai_completion(call, data, model)
    return Answer(200, answer, "application/json", usage=usage, text=text)


class AnthropicAdaptor(Adaptor):
    """Translator for api.anthropic.com and servers that speak its Messages API."""

    # Anthropic takes images as base64 (URL sources are newer and not everywhere), so images are fetched first.
    inline_images = True

    def __init__(self) -> None:
        self._native = ClaudeNative(self)

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(call.path)
        channel = target.channel
        body = messages_body(call, target.model)
        headers = {"x-api-key": channel.key, "anthropic-version": API_VERSION, "content-type": "application/json",
                   "accept": "text/event-stream" if call.stream else "application/json"}
        base = (channel.base_url or target.type.base_url).rstrip("/")
        return UpstreamRequest("POST", f"{base}/v1/messages", headers, orjson.dumps(body), stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return whole_answer(call, status, body, target.model)

    def translator(self, call: Call, target: Target) -> AnthropicStream:
        return AnthropicStream(call, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return claude_error(status, body)

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        return self._native if inbound.api == MESSAGES else None
