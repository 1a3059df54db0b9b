"""OpenAI chat answers as Anthropic Messages answers: the message, its usage, and errors in Anthropic's shape."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import InsufficientQuota, NoChannel, TollwayError, UpstreamError
from tollway.relay.adaptors.anthropic_messages import tool_input
from tollway.relay.adaptors.anthropic_terms import ERROR_STATUS, error_type, stop_reason
from tollway.relay.inbound.anthropic_request import MessagesAsk
from tollway.relay.inbound.chat_answer import read_completion
from tollway.relay.inbound.ids import object_id
from tollway.relay.usage import Usage


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    """Anthropic's usage object: its input_tokens leave out the tokens read from the cache."""
    used = usage or Usage()
    return {"input_tokens": max(used.prompt_tokens - used.cached_tokens, 0), "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": used.cached_tokens, "output_tokens": used.completion_tokens}


def tool_use(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """A tool_use block; its input is the parsed arguments object."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input(arguments)}


def message_answer(body: bytes, ask: MessagesAsk, usage: Usage | None = None) -> bytes:
    """The Anthropic message of a whole chat.completion (`usage`: the pipeline's, when the upstream gave none)."""
    completion = read_completion(body)
    choice = completion.choices[0]
    content: list[dict[str, Any]] = []
    if choice.reasoning and ask.thinking:
        # Chat upstreams sign nothing; the empty signature keeps the block's shape.
        content.append({"type": "thinking", "thinking": choice.reasoning, "signature": ""})
    if choice.text:
        content.append({"type": "text", "text": choice.text})
    content += [tool_use(call.id, call.name, call.arguments) for call in choice.calls]
    finish = "tool_calls" if choice.calls and choice.finish in (None, "stop") else choice.finish
    message = {"id": object_id("msg"), "type": "message", "role": "assistant", "model": ask.model, "content": content,
               "stop_reason": stop_reason(finish), "stop_sequence": None,
               "usage": anthropic_usage(completion.usage or usage)}
    return orjson.dumps(message)


def error_status(error: TollwayError) -> int:
    """The status an Anthropic client gets for a Tollway error."""
    if isinstance(error, NoChannel):
        # Anthropic's answer for an unknown model (not_found_error). Not a 503: the SDK retries every 5xx
        # twice, and a missing channel does not appear between retries.
        return 404
    if isinstance(error, InsufficientQuota):
        return 402  # Anthropic's billing_error
    return error.status_code


def error_object(error: TollwayError, request_id: str = "") -> dict[str, Any]:
    """Anthropic's error body `{"type": "error", "error": {"type", "message"}}` for a Tollway error."""
    status = error_status(error)
    # A Claude upstream's own type is kept where it says more than the status (overloaded_error, billing_error).
    upstream = isinstance(error, UpstreamError) and ERROR_STATUS.get(error.error_type) == status
    kind = error.error_type if upstream else error_type(status)
    message = f"{error.message} (request id: {request_id})" if request_id else error.message
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def error_answer(error: TollwayError, request_id: str = "") -> tuple[int, bytes]:
    """(status, body) of a failed Messages request."""
    return error_status(error), orjson.dumps(error_object(error, request_id))
