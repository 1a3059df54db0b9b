"""The official SDKs wired to the inbound translators in-process (httpx2.MockTransport: no socket, no network).

A test gives the OpenAI chat answer a channel would produce (a whole chat.completion, or chat SSE); the
handler translates the SDK's request with the module under test, answers through the translators, and
records what the SDK sent and what the chat side received.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
from google import genai
from google.genai import types as genai_types

from tollway.billing.tokenizer import Counter
from tollway.errors import TollwayError
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


def chat_sse(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    """An OpenAI chat stream of these chunks, as the adaptors write it."""
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks) + \
        (b"data: [DONE]\n\n" if done else b"")


@dataclass
class Upstream:
    """What the chat side answers, and what reached it."""

    whole: bytes = b""
    stream: bytes = b""
    error: TollwayError | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)  # what the SDK sent (its JSON body)
    chat: list[dict[str, Any]] = field(default_factory=list)  # the translated OpenAI bodies
    headers: list[dict[str, str]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def _json(status: int, body: bytes) -> httpx2.Response:
    return httpx2.Response(status, content=body, headers={"content-type": "application/json"})


def _sse(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _handler(upstream: Upstream, serve: Callable[[httpx2.Request, dict[str, Any]], httpx2.Response]
             ) -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else {}
        upstream.sent.append(body)
        upstream.headers.append(dict(request.headers))
        upstream.urls.append(str(request.url))
        return serve(request, body)

    return httpx2.MockTransport(handle)


def anthropic_client(upstream: Upstream) -> anthropic.Anthropic:
    """An anthropic SDK client answered by the Messages translators."""

    def serve(request: httpx2.Request, body: dict[str, Any]) -> httpx2.Response:
        try:
            if request.url.path.endswith("/count_tokens"):
                return _json(200, anthropic_request.count_tokens(body, Counter("gpt-4o")))
            chat, ask = anthropic_request.chat_request(body)
            upstream.chat.append(chat)
            if upstream.error is not None:
                raise upstream.error
            if ask.stream:
                translator = anthropic_stream.MessagesStream(ask, prompt_tokens=11)
                return _sse(b"".join(translator.feed(upstream.stream) + translator.close(None)))
            return _json(200, anthropic_reply.message_answer(upstream.whole, ask))
        except TollwayError as exc:
            return _json(*anthropic_reply.error_answer(exc, "req-1"))

    return anthropic.Anthropic(api_key="sk-tollway", base_url="http://tollway.test", max_retries=0,
                               http_client=httpx2.Client(transport=_handler(upstream, serve)))


def openai_client(upstream: Upstream) -> openai.OpenAI:
    """An openai SDK client whose /v1/responses is answered by the Responses translators."""

    def serve(request: httpx2.Request, body: dict[str, Any]) -> httpx2.Response:
        try:
            chat, ask = responses_request.chat_request(body)
            upstream.chat.append(chat)
            if upstream.error is not None:
                raise upstream.error
            if ask.stream:
                translator = responses_stream.ResponsesStream(ask)
                return _sse(b"".join(translator.feed(upstream.stream) + translator.close(None)))
            return _json(200, responses_reply.response_answer(upstream.whole, ask))
        except TollwayError as exc:
            return _json(*responses_reply.error_answer(exc, "req-1"))

    return openai.OpenAI(api_key="sk-tollway", base_url="http://tollway.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=_handler(upstream, serve)))


def genai_client(upstream: Upstream) -> genai.Client:
    """A google-genai client (Gemini API, its default v1) answered by the Gemini translators."""

    def serve(request: httpx2.Request, body: dict[str, Any]) -> httpx2.Response:
        model, _, action = request.url.path.rsplit("/", 1)[1].partition(":")
        try:
            if action == "countTokens":
                return _json(200, gemini_request.count_tokens(body, model, Counter("gpt-4o")))
            if action in ("embedContent", "batchEmbedContents"):
                embeddings, embed = gemini_embeddings.embeddings_request(body, model,
                                                                         batch=action == "batchEmbedContents")
                upstream.chat.append(embeddings)
                return _json(200, gemini_embeddings.embeddings_answer(upstream.whole, embed))
            chat, ask = gemini_request.chat_request(body, model, stream=action == "streamGenerateContent")
            upstream.chat.append(chat)
            if upstream.error is not None:
                raise upstream.error
            if ask.stream:
                translator = gemini_stream.GeminiStream(ask)
                return _sse(b"".join(translator.feed(upstream.stream) + translator.close(None)))
            return _json(200, gemini_reply.generate_answer(upstream.whole, ask))
        except TollwayError as exc:
            return _json(*gemini_reply.error_answer(exc, "req-1"))

    options = genai_types.HttpOptions(base_url="http://tollway.test", timeout=30_000,
                                      httpx_client=httpx2.Client(transport=_handler(upstream, serve)))
    return genai.Client(api_key="g-tollway", http_options=options)
