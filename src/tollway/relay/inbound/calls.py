"""Calls from other APIs' clients as the pipeline sees them: an OpenAI call, the client's own request, the way back.

A request of Anthropic's Messages API, OpenAI's Responses API or Gemini's API becomes a `Call` that is routed,
held, billed and logged like any other; its body is the request's OpenAI chat (or embeddings) translation. Its
`inbound` keeps the client's own request for a channel that speaks the client's API (the channel adaptor's
`native` passes it through unchanged) and brings answers back: a translated one, whole or streamed, through
the API's translators; a passed-through one as it came.

What the chat translation cannot carry (server tools, stored state) is `refused`: such a call goes only to
channels that take it natively, and without one the client hears the refusal (a 400 naming the field).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from tollway.errors import TollwayError, UpstreamError
from tollway.relay import assembly, sse, streaming
from tollway.relay.adaptors.base import Adaptor, StreamTranslator
from tollway.relay.adaptors.failures import json_object
from tollway.relay.adaptors.passthrough import GEMINI, MESSAGES, RESPONSES, Passthrough
from tollway.relay.calls import Call, Mode
from tollway.relay.inbound import (
    anthropic_reply,
    anthropic_request,
    anthropic_stream,
    gemini_embeddings,
    gemini_reply,
    gemini_request,
    gemini_stream,
    responses_reply,
    responses_request,
    responses_stream,
)
from tollway.relay.inbound.chat_body import integer
from tollway.relay.inbound.chat_stream import Chained, ChatStreamReader
from tollway.relay.reply import JSON, Reply
from tollway.relay.usage import Usage

Fail = Callable[[UpstreamError], list[bytes]]


@dataclass(eq=False)
class Inbound:
    """The client's own request (kept for a channel of its API) and how answers go back to it."""

    api: ClassVar[str]
    raw: bytes
    body: dict[str, Any]
    model: str
    stream: bool
    # What a channel of the client's API reads from the client's headers (anthropic-version, anthropic-beta).
    headers: Mapping[str, str] = field(default_factory=dict)
    # Gemini's method: generateContent, streamGenerateContent, embedContent, batchEmbedContents.
    action: str = ""
    # Why there is no chat translation; only a channel that takes the request natively can serve it.
    refused: UpstreamError | None = None

    # What each API writes.

    def whole(self, body: bytes, usage: Usage) -> bytes:
        """The client's answer of a whole OpenAI answer (`usage`: what was billed, if the upstream said nothing)."""
        raise NotImplementedError

    def reader(self, call: Call, request_id: str) -> ChatStreamReader:
        """A translator of an OpenAI chat stream into the client's stream."""
        raise NotImplementedError

    def error_event(self, error: TollwayError, request_id: str) -> bytes:
        """The client's stream event for a failure after its stream began."""
        raise NotImplementedError

    # What the pipeline asks.

    def relayed(self, translator: StreamTranslator, adaptor: Adaptor, call: Call, request_id: str
                ) -> tuple[StreamTranslator, Fail]:
        """The translator of the client's stream, and what tells the client of a failure mid-stream."""
        if isinstance(adaptor, Passthrough):
            return translator, lambda error: [self.error_event(error, request_id)]
        chained = Chained(translator, self.reader(call, request_id))
        return chained, chained.fail

    def answered(self, adaptor: Adaptor, content: bytes, media_type: str, status: int, usage: Usage, call: Call,
                 request_id: str) -> Reply:
        """The client's reply to a whole upstream answer: as it came from a native channel, else translated."""
        if isinstance(adaptor, Passthrough):
            return Reply(status, media_type, content)
        try:
            if not self.stream:
                return Reply(200, JSON, self.whole(content, usage))
            # A channel that answered whole, for a client that streams: the answer replayed as its stream.
            reader = self.reader(call, request_id)
            events = assembly.events_from_completion(json_object(content), call)
            return streaming.replay([piece for event in events for piece in reader.feed(event)] + reader.close(usage))
        except UpstreamError as exc:
            exc.retryable = False  # the call is billed: it is not tried again elsewhere
            raise


def _placeholder(body: dict[str, Any], model: str, stream: bool, limit: int | None) -> dict[str, Any]:
    """The stand-in OpenAI body of a refused translation: enough to hold, count and log the call."""
    stand_in: dict[str, Any] = {name: body[name] for name in ("messages", "input") if name in body}
    stand_in.update(model=model, stream=stream)
    if limit:
        stand_in["max_tokens"] = limit
    return stand_in


def _call(mode: Mode, chat: dict[str, Any], inbound: Inbound) -> Call:
    raw = orjson.dumps(chat) if inbound.refused is None else inbound.raw
    return Call(mode=mode, model=inbound.model, raw=raw, content_type="application/json", body=chat, inbound=inbound)


def _limit(body: dict[str, Any], name: str) -> int | None:
    value = integer(body, name)
    return value if value is not None and value > 0 else None


@dataclass(eq=False)
class MessagesInbound(Inbound):
    """A call of Anthropic's Messages API (`POST /v1/messages`)."""

    api: ClassVar[str] = MESSAGES
    ask: anthropic_request.MessagesAsk | None = None

    def _ask(self) -> anthropic_request.MessagesAsk:
        assert self.ask is not None, "a refused Messages call is only ever passed through"
        return self.ask

    def whole(self, body: bytes, usage: Usage) -> bytes:
        return anthropic_reply.message_answer(body, self._ask(), usage)

    def reader(self, call: Call, request_id: str) -> ChatStreamReader:
        return anthropic_stream.MessagesStream(self._ask(), prompt_tokens=call.prompt_tokens or 0,
                                               request_id=request_id)

    def error_event(self, error: TollwayError, request_id: str) -> bytes:
        return anthropic_stream.event("error", anthropic_reply.error_object(error, request_id))


def messages_call(raw: bytes, body: dict[str, Any], headers: Mapping[str, str]) -> Call:
    """The call of a Messages request."""
    model = body.get("model")
    inbound = MessagesInbound(raw, body, model if isinstance(model, str) else "", body.get("stream") is True,
                              headers)
    try:
        chat, inbound.ask = anthropic_request.chat_request(body)
    except UpstreamError as exc:
        inbound.refused = exc
        chat = _placeholder(body, inbound.model, inbound.stream, _limit(body, "max_tokens"))
    return _call(Mode.CHAT, chat, inbound)


@dataclass(eq=False)
class ResponsesInbound(Inbound):
    """A call of OpenAI's Responses API (`POST /v1/responses`)."""

    api: ClassVar[str] = RESPONSES
    ask: responses_request.ResponsesAsk | None = None

    def _ask(self) -> responses_request.ResponsesAsk:
        assert self.ask is not None, "a refused Responses call is only ever passed through"
        return self.ask

    def whole(self, body: bytes, usage: Usage) -> bytes:
        return responses_reply.response_answer(body, self._ask(), usage)

    def reader(self, call: Call, request_id: str) -> ChatStreamReader:
        return responses_stream.ResponsesStream(self._ask())

    def error_event(self, error: TollwayError, request_id: str) -> bytes:
        data = {"type": "error", "code": error.code or error.error_type, "message": error.message,
                "param": error.param, "sequence_number": 0}
        return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"


def responses_call(raw: bytes, body: dict[str, Any]) -> Call:
    """The call of a Responses request."""
    model = body.get("model")
    inbound = ResponsesInbound(raw, body, model if isinstance(model, str) else "", body.get("stream") is True)
    try:
        chat, inbound.ask = responses_request.chat_request(body)
    except UpstreamError as exc:
        inbound.refused = exc
        chat = _placeholder(body, inbound.model, inbound.stream, _limit(body, "max_output_tokens"))
    return _call(Mode.CHAT, chat, inbound)


@dataclass(eq=False)
class GeminiInbound(Inbound):
    """A call of Gemini's generateContent or streamGenerateContent."""

    api: ClassVar[str] = GEMINI
    ask: gemini_request.GeminiAsk | None = None

    def _ask(self) -> gemini_request.GeminiAsk:
        assert self.ask is not None, "a refused Gemini call is only ever passed through"
        return self.ask

    def whole(self, body: bytes, usage: Usage) -> bytes:
        return gemini_reply.generate_answer(body, self._ask(), usage)

    def reader(self, call: Call, request_id: str) -> ChatStreamReader:
        return gemini_stream.GeminiStream(self._ask(), request_id=request_id)

    def error_event(self, error: TollwayError, request_id: str) -> bytes:
        return sse.frame(orjson.dumps(gemini_reply.error_object(error, request_id)))


@dataclass(eq=False)
class EmbedInbound(Inbound):
    """A call of Gemini's embedContent or batchEmbedContents (an OpenAI embeddings call when translated)."""

    api: ClassVar[str] = GEMINI
    ask: gemini_embeddings.EmbedAsk | None = None

    def whole(self, body: bytes, usage: Usage) -> bytes:
        assert self.ask is not None, "a refused embeddings call is only ever passed through"
        return gemini_embeddings.embeddings_answer(body, self.ask)


def gemini_call(raw: bytes, body: dict[str, Any], path_model: str, action: str) -> Call:
    """The call of a Gemini request for the model and method (`…/models/{model}:{method}`) of its path."""
    model = gemini_request.model_name(path_model)
    if action in ("embedContent", "batchEmbedContents"):
        embed = EmbedInbound(raw, body, model, False, action=action)
        try:
            embeddings, embed.ask = gemini_embeddings.embeddings_request(body, path_model,
                                                                         batch=action == "batchEmbedContents")
        except UpstreamError as exc:
            embed.refused = exc
            embeddings = {"model": model, "input": []}
        return _call(Mode.EMBEDDINGS, embeddings, embed)
    stream = action == "streamGenerateContent"
    inbound = GeminiInbound(raw, body, model, stream, action=action)
    try:
        chat, inbound.ask = gemini_request.chat_request(body, path_model, stream=stream)
    except UpstreamError as exc:
        inbound.refused = exc
        config = gemini_request.field(body, "generationConfig")
        limit = gemini_request.field(config, "maxOutputTokens") if isinstance(config, dict) else None
        chat = _placeholder({}, model, stream, limit if isinstance(limit, int) and limit > 0 else None)
    return _call(Mode.CHAT, chat, inbound)
