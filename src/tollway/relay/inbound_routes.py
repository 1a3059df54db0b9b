"""The routes of other APIs' clients: Anthropic's Messages, OpenAI's Responses and Gemini's native API.

Each takes a Tollway token the way its SDK sends a key (`x-api-key`, `Authorization: Bearer`, `x-goog-api-key`
or `?key=`), hands the call to the pipeline (relay/inbound/calls.py) and answers every error in its own API's
shape and status, so the client's SDK raises its own exception classes. Token counts are counted here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from tollway.billing.tokenizer import Counter
from tollway.errors import InvalidRequest, TollwayError
from tollway.json_objects import body_object
from tollway.relay.adaptors.claude_native import CLIENT_HEADERS
from tollway.relay.asgi import Endpoint, Incoming, Render, Route
from tollway.relay.auth import Caller, allow_model
from tollway.relay.inbound import anthropic_reply, anthropic_request, gemini_reply, gemini_request, responses_reply
from tollway.relay.inbound.calls import gemini_call, messages_call, responses_call
from tollway.relay.reply import JSON, Reply, error_headers

_KEY_HEADERS = (b"x-api-key", b"authorization", b"x-goog-api-key")
# Gemini's methods on `…/models/{model}:{method}`, under both API versions google-genai may use.
GEMINI_METHODS = ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents")
GEMINI_VERSIONS = ("/v1beta", "/v1")


def key_of(incoming: Incoming) -> str:
    """The key as each API's clients send it: x-api-key, Authorization: Bearer, x-goog-api-key, or `?key=`."""
    for name in _KEY_HEADERS:
        value = incoming.headers.get(name)
        if value:
            return value.decode("latin-1")
    query: bytes = incoming.scope.get("query_string", b"")
    if b"key=" in query:
        keys = parse_qs(query.decode("latin-1")).get("key")
        if keys:
            return keys[0]
    return ""


async def caller_of(incoming: Incoming) -> Caller:
    return await incoming.services.auth.caller(key_of(incoming), incoming.client_ip)


async def body_of(incoming: Incoming) -> tuple[bytes, dict[str, Any]]:
    """The request body and its JSON object; a clear 400 for anything else."""
    raw = await incoming.body()
    return raw, body_object(raw)


def _counter(incoming: Incoming, model: str) -> Counter:
    return Counter(model, approximate=incoming.services.cache.options.flag("ApproximateTokenEnabled"))


async def messages(incoming: Incoming) -> Reply:
    caller = await caller_of(incoming)
    raw, body = await body_of(incoming)
    headers = {name: incoming.header(name.encode()) for name in CLIENT_HEADERS if incoming.header(name.encode())}
    call = messages_call(raw, body, headers)
    allow_model(caller, call.model)
    return await incoming.services.relay.handle(call, caller, incoming.request_id)


async def count_messages(incoming: Incoming) -> Reply:
    caller = await caller_of(incoming)
    _, body = await body_of(incoming)
    model = body.get("model")
    if isinstance(model, str) and model:
        allow_model(caller, model)
    return Reply(200, JSON, anthropic_request.count_tokens(body, _counter(incoming, str(model or ""))))


async def responses(incoming: Incoming) -> Reply:
    caller = await caller_of(incoming)
    raw, body = await body_of(incoming)
    call = responses_call(raw, body)
    allow_model(caller, call.model)
    return await incoming.services.relay.handle(call, caller, incoming.request_id)


def gemini(method: str) -> Endpoint:
    """The endpoint of one Gemini method on `…/models/{model}:{method}`."""

    async def endpoint(incoming: Incoming) -> Reply:
        caller = await caller_of(incoming)
        raw, body = await body_of(incoming)
        call = gemini_call(raw, body, incoming.params["model"], method)
        if not call.model:
            raise InvalidRequest("the model is missing from the path", param="model")
        allow_model(caller, call.model)
        return await incoming.services.relay.handle(call, caller, incoming.request_id)

    return endpoint


async def count_gemini(incoming: Incoming) -> Reply:
    caller = await caller_of(incoming)
    _, body = await body_of(incoming)
    model = gemini_request.model_name(incoming.params["model"])
    allow_model(caller, model)
    return Reply(200, JSON, gemini_request.count_tokens(body, model, _counter(incoming, model)))


def _render(answer: Callable[[TollwayError, str], tuple[int, bytes]]) -> Render:
    def render(exc: TollwayError, request_id: str) -> Reply:
        status, body = answer(exc, request_id)
        return Reply(status, JSON, body, headers=error_headers(exc))

    return render


ANTHROPIC_ERRORS = _render(anthropic_reply.error_answer)
RESPONSES_ERRORS = _render(responses_reply.error_answer)
GEMINI_ERRORS = _render(gemini_reply.error_answer)


def inbound_routes() -> list[Route]:
    """The routes of the Messages, Responses and Gemini APIs (Gemini's before `/v1/models/{model}`'s own)."""
    post = frozenset({"POST"})
    routes = [
        Route(post, "/v1/messages", messages, ANTHROPIC_ERRORS),
        Route(post, "/v1/messages/count_tokens", count_messages, ANTHROPIC_ERRORS),
        Route(post, "/v1/responses", responses, RESPONSES_ERRORS),
    ]
    for version in GEMINI_VERSIONS:
        routes += [Route(post, f"{version}/models/{{model}}:{method}", gemini(method), GEMINI_ERRORS)
                   for method in GEMINI_METHODS]
        routes.append(Route(post, f"{version}/models/{{model}}:countTokens", count_gemini, GEMINI_ERRORS))
    return routes
