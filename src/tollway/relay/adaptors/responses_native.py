"""OpenAI Responses requests passed through to channels that serve `/v1/responses`: OpenAI (1) and Azure (3).

The body goes as the client sent it, with only the model mapped (on Azure, to the deployment's name); the answer
comes back as OpenAI wrote it. The bill reads the usage of the Response object: the whole answer's, or the one
`response.completed` (or `.incomplete`, `.failed`) carries at the end of a stream.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Answer, Target, UpstreamRequest
from tollway.relay.adaptors.failures import body_error, json_object, obj, provider_error, upstream_error
from tollway.relay.adaptors.passthrough import EventStream, Passthrough, inbound_of, mapped_body
from tollway.relay.calls import Call
from tollway.relay.usage import from_openai

AZURE = 3
_OPENING = frozenset({"response.created", "response.in_progress", "response.queued"})
_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def stream_error(error: dict[str, Any]) -> UpstreamError:
    """The UpstreamError of a Responses stream's `error` event or a failed response's `error` object."""
    code = str(error.get("code") or "server_error")
    status = 429 if "rate_limit" in code else 400 if code.startswith("invalid") else 500
    return provider_error(str(error.get("message") or "the response failed"), status, code)


def _output_text(data: dict[str, Any]) -> str:
    """The text of a Response's message items (counted only when it reports no usage)."""
    texts = []
    output = data.get("output")
    for item in output if isinstance(output, list) else ():
        content = obj(item).get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "".join(texts)


class ResponsesEventStream(EventStream):
    """A Responses stream relayed byte for byte, read for its usage, text and failure."""

    def read(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self.state.text.append(event["delta"])
        elif kind in _ENDS:
            response = obj(event.get("response"))
            usage = from_openai(response.get("usage"))
            if usage is not None:
                self.state.usage = usage
            self.state.finished = True
            if kind == "response.failed":
                self.state.error = stream_error(obj(response.get("error")))
        elif kind == "error" and not self.sent:
            # Before anything went out the attempt failed, and another channel may answer; after, the stream
            # carries the error on to its response.failed, which the client reads.
            self.state.error = stream_error(event)
        return kind in _OPENING


class ResponsesNative(Passthrough):
    """Responses requests to OpenAI or an Azure OpenAI resource."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        inbound = inbound_of(call)
        channel, kind = target.channel, target.type
        base = (channel.base_url or kind.base_url).rstrip("/")
        headers = {"Content-Type": "application/json"}
        model = target.model
        if kind.id == AZURE:
            headers["api-key"] = channel.key
            version = str(channel.config.get("api_version") or "")
            url = f"{base}/openai/responses?api-version={version}"
            model = model.replace(".", "")  # the deployment, named as Tollway names it for chat
        else:
            headers["Authorization"] = f"Bearer {channel.key}"
            url = f"{base}/responses" if kind.strip_v1 else f"{base}/v1/responses"
        headers.update(kind.headers)
        if inbound.stream:
            headers["Accept"] = "text/event-stream"
        return UpstreamRequest("POST", url, headers, mapped_body(inbound, model), stream=inbound.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        if body_error(data) is not None and data.get("object") != "response":
            raise upstream_error(status if status >= 400 else 502, body)
        usage = from_openai(data.get("usage"))
        return Answer(200, body, "application/json", usage=usage, text="" if usage else _output_text(data))

    def translator(self, call: Call, target: Target) -> ResponsesEventStream:
        return ResponsesEventStream()
