"""Anthropic Messages requests passed through to AWS Bedrock's Claude models (channel type 33).

Bedrock's InvokeModel takes the Messages body itself, without `model` and `stream` (the model id and the
operation are in the URL) and with its own `anthropic_version`; beta features go in `anthropic_beta`. Its
stream is AWS's binary event-stream with one Anthropic event per chunk: each is sent to the client as the
Anthropic SSE event it carries, so the client reads the stream Anthropic would have sent.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.aws import BEDROCK_VERSION, AwsAdaptor, model_id, stream_failure
from tollway.relay.adaptors.aws_eventstream import Decoder, Message
from tollway.relay.adaptors.base import Answer, Target, UpstreamRequest
from tollway.relay.adaptors.claude_native import ClaudeTally, error_event, whole_message
from tollway.relay.adaptors.passthrough import HeldStream, Passthrough, inbound_of, mapped_body
from tollway.relay.calls import Call


class BedrockEventStream(HeldStream):
    """Bedrock's event-stream chunks as Anthropic SSE events, read for usage and errors as they pass."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = ClaudeTally(self.state)
        self._decoder = Decoder()

    def read(self, event: dict[str, Any]) -> bool:
        return self.tally.read(event)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for message in self._decoder.feed(data):
            out += self._message(message)
        return out

    def _message(self, message: Message) -> list[bytes]:
        kind = message.headers.get(":message-type")
        if kind == "event" and message.headers.get(":event-type") == "chunk":
            try:
                payload = base64.b64decode(orjson.loads(message.payload)["bytes"], validate=True)
                event = orjson.loads(payload)
            except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError) as exc:
                return self._failed(UpstreamError(f"Bedrock sent an unreadable chunk: {exc!r}", status_code=502,
                                                  code="bad_upstream_stream", retryable=True))
            if not isinstance(event, dict):
                return []
            name = str(event.get("type") or "message")
            self.note(event)
            data = payload if b"\n" not in payload else orjson.dumps(event)  # one event, one data line
            return self.relay(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
        if kind in ("exception", "error"):
            # Bedrock's failure (its exception type → status), said as an Anthropic error event.
            error = stream_failure(message)
            return self._failed(error) if error is not None else []
        return []

    def _failed(self, error: UpstreamError) -> list[bytes]:
        # Before anything went out this is the attempt's failure (relay() sends nothing); after, the client hears it.
        self.state.error = error
        return self.relay(error_event(error))


class BedrockNative(Passthrough):
    """Messages requests to Bedrock's InvokeModel (and its response stream), signed as the AWS adaptor signs."""

    def __init__(self, family: AwsAdaptor) -> None:
        super().__init__(family)
        self.aws = family

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        inbound = inbound_of(call)
        region, credentials, api_key = self.aws.account(target)
        channel = target.channel
        extra: dict[str, Any] = {"anthropic_version": BEDROCK_VERSION}
        beta = inbound.headers.get("anthropic-beta")
        if beta:
            extra["anthropic_beta"] = [flag.strip() for flag in beta.split(",") if flag.strip()]
        content = mapped_body(inbound, None, drop=("stream",), extra=extra)
        base = (channel.base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        operation = "invoke-with-response-stream" if inbound.stream else "invoke"
        url = f"{base}/model/{quote(model_id(target.model), safe=':')}/{operation}"
        headers = {"Content-Type": "application/json",
                   "Accept": "application/vnd.amazon.eventstream" if inbound.stream else "application/json"}
        headers = self.aws.authorized(url, headers, content, region, credentials, api_key)
        return UpstreamRequest("POST", url, headers, content, stream=inbound.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return whole_message(status, body)

    def translator(self, call: Call, target: Target) -> BedrockEventStream:
        return BedrockEventStream()
