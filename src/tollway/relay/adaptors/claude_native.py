"""Anthropic Messages requests passed through to Claude channels: Anthropic (14) and Vertex AI's Claude models (42).

The client's body goes as it came with only the model mapped (Vertex names the model in the URL and wants its
own `anthropic_version`); the answer, whole or streamed, goes back as Claude wrote it. The bill reads the prompt
from message_start and the output from the last message_delta, as for a translated call. Bedrock (33) is in
bedrock_native.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic_replies import claude_error, error_of, prompt_usage, usage_of
from tollway.relay.adaptors.anthropic_terms import error_type
from tollway.relay.adaptors.base import Adaptor, Answer, StreamState, Target, UpstreamRequest
from tollway.relay.adaptors.failures import json_object, obj
from tollway.relay.adaptors.passthrough import EventStream, Passthrough, inbound_of, mapped_body
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

API_VERSION = "2023-06-01"
VERTEX_VERSION = "vertex-2023-10-16"
# The headers of the client's that a Claude upstream reads (the API version and beta features it asked for).
CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")
# Events held back until the first content arrives: an error after them may still go to another channel.
_OPENING = frozenset({"message_start", "ping", "content_block_start"})


def error_event(error: UpstreamError) -> bytes:
    """An Anthropic `error` event for a failure the provider reported another way (Bedrock's exceptions)."""
    data = {"type": "error", "error": {"type": error_type(error.status_code), "message": error.message}}
    return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"


class ClaudeTally:
    """What a Messages stream tells the bill: the prompt from message_start, the output from message_delta."""

    def __init__(self, state: StreamState) -> None:
        self.state = state
        self._prompt = (0, 0)
        self._output = 0

    def _count(self) -> None:
        prompt, cached = self._prompt
        self.state.usage = Usage(prompt, self._output, cached_tokens=cached)

    def read(self, event: dict[str, Any]) -> bool:
        """Note one event; True for the opening events (message_start, ping, a content block's start)."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = obj(event.get("delta"))
            text = delta.get("text") or delta.get("thinking") or delta.get("partial_json")
            if isinstance(text, str):
                self.state.text.append(text)  # counted only if the stream never reports its usage
        elif kind == "message_start":
            self._prompt = prompt_usage(obj(event.get("message")).get("usage"))
            self._count()
        elif kind == "message_delta":
            usage = obj(event.get("usage"))
            output = usage.get("output_tokens")
            if isinstance(output, int) and output >= 0:
                self._output = output  # cumulative
            if prompt_usage(usage)[0]:
                self._prompt = prompt_usage(usage)  # newer API versions repeat the input counts here
            self._count()
        elif kind == "message_stop":
            self.state.finished = True
            metrics = obj(event.get("amazon-bedrock-invocationMetrics"))
            prompt, output = metrics.get("inputTokenCount"), metrics.get("outputTokenCount")
            if self.state.usage is None and isinstance(prompt, int) and isinstance(output, int):
                self.state.usage = Usage(prompt, output)
        elif kind == "error":
            self.state.error = error_of(event.get("error"))
        return kind in _OPENING


class ClaudeEventStream(EventStream):
    """Claude's SSE relayed byte for byte, read for usage and errors."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = ClaudeTally(self.state)

    def read(self, event: dict[str, Any]) -> bool:
        return self.tally.read(event)


def whole_message(status: int, body: bytes) -> Answer:
    """A whole Claude message as it came, with its usage read (an error body is the provider's error)."""
    data = json_object(body)
    if data.get("type") == "error" or isinstance(data.get("error"), dict):
        raise claude_error(status if status >= 400 else 502, body)
    usage = usage_of(data.get("usage"))
    text = ""
    if usage is None:
        blocks = data.get("content")
        text = "".join(str(block.get("text") or block.get("thinking") or "") for block in
                       (blocks if isinstance(blocks, list) else ()) if isinstance(block, dict))
    return Answer(200, body, "application/json", usage=usage, text=text)


class ClaudeNative(Passthrough):
    """Messages requests to api.anthropic.com (or a server that speaks its API), as the client sent them."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        inbound = inbound_of(call)
        channel = target.channel
        headers = {"x-api-key": channel.key, "content-type": "application/json",
                   "accept": "text/event-stream" if inbound.stream else "application/json"}
        for name in CLIENT_HEADERS:
            value = inbound.headers.get(name)
            if value:
                headers[name] = value
        headers.setdefault("anthropic-version", API_VERSION)
        base = (channel.base_url or target.type.base_url).rstrip("/")
        return UpstreamRequest("POST", f"{base}/v1/messages", headers, mapped_body(inbound, target.model),
                               stream=inbound.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return whole_message(status, body)

    def translator(self, call: Call, target: Target) -> ClaudeEventStream:
        return ClaudeEventStream()


class VertexClaudeNative(Passthrough):
    """Messages requests to Claude on Vertex AI (rawPredict / streamRawPredict), the model named in the URL."""

    def __init__(self, family: Adaptor, publishers: Callable[[Target], str]) -> None:
        super().__init__(family)
        # The URL of the channel's project and region, up to `/publishers` (from the Vertex adaptor).
        self.publishers = publishers

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        inbound = inbound_of(call)
        action = "streamRawPredict" if inbound.stream else "rawPredict"
        url = f"{self.publishers(target)}/anthropic/models/{quote(target.model, safe='@')}:{action}"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.credential}"}
        beta = inbound.headers.get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        if inbound.stream:
            headers["Accept"] = "text/event-stream"
        content = mapped_body(inbound, None, extra={"anthropic_version": VERTEX_VERSION})
        return UpstreamRequest("POST", url, headers, content, stream=inbound.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return whole_message(status, body)

    def translator(self, call: Call, target: Target) -> ClaudeEventStream:
        return ClaudeEventStream()
