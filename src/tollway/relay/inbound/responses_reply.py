"""OpenAI chat answers as Responses API answers: the Response object, its output items and usage, and errors."""

from __future__ import annotations

import time
from typing import Any

import orjson

from tollway.errors import NoChannel, TollwayError
from tollway.relay.adaptors.failures import obj
from tollway.relay.inbound.chat_answer import read_completion
from tollway.relay.inbound.ids import object_id
from tollway.relay.inbound.responses_request import ResponsesAsk
from tollway.relay.usage import Usage

# Finishes that leave a response incomplete, and the reason the Response object gives.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def responses_usage(usage: Usage | None) -> dict[str, Any] | None:
    """The Responses usage object (input, output and total tokens with their details); None when unknown."""
    if usage is None:
        return None
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def output_text(text: str) -> dict[str, Any]:
    """An output_text content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """An assistant message output item (with no content part while its text has not begun)."""
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [] if text is None else [output_text(text)]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    """A function_call output item."""
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def reasoning_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A reasoning output item carrying the upstream's reasoning as reasoning_text (it has no summary)."""
    content = [] if text is None else [{"type": "reasoning_text", "text": text}]
    return {"id": item_id, "type": "reasoning", "status": status, "summary": [], "content": content}


def status_of(finish: str | None) -> tuple[str, dict[str, Any] | None]:
    """(status, incomplete_details) of a response whose choice finished so."""
    reason = INCOMPLETE.get(str(finish))
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(ask: ResponsesAsk, response_id: str, created: int, status: str, output: list[dict[str, Any]],
                    usage: Usage | None, *, incomplete: dict[str, Any] | None = None,
                    error: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Response object, repeating the request's settings as OpenAI does."""
    echo = ask.echo
    reasoning = obj(echo.get("reasoning"))
    return {
        "id": response_id, "object": "response", "created_at": created, "status": status, "background": False,
        "error": error, "incomplete_details": incomplete, "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"), "max_tool_calls": echo.get("max_tool_calls"),
        "model": ask.model, "output": output, "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default", "store": False, "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text") or {"format": {"type": "text"}}, "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools") or [], "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"), "usage": responses_usage(usage),
        "user": echo.get("user"), "metadata": echo.get("metadata") or {},
    }


def response_answer(body: bytes, ask: ResponsesAsk, usage: Usage | None = None) -> bytes:
    """The Response object of a whole chat.completion answer (`usage`: the pipeline's, when the upstream gave none)."""
    completion = read_completion(body)
    choice = completion.choices[0]
    output: list[dict[str, Any]] = []
    if choice.reasoning:
        output.append(reasoning_item(object_id("rs"), choice.reasoning, "completed"))
    status, incomplete = status_of(choice.finish)
    if choice.text or not choice.calls:
        output.append(message_item(object_id("msg"), choice.text, status))
    output += [call_item(object_id("fc"), call.id, call.name, call.arguments, "completed") for call in choice.calls]
    answer = response_object(ask, object_id("resp"), int(time.time()), status, output, completion.usage or usage,
                             incomplete=incomplete)
    return orjson.dumps(answer)


def error_status(error: TollwayError) -> int:
    """The status a Responses client gets: OpenAI's 404 model_not_found when no channel serves the model."""
    # Not a 503 as on /v1/chat/completions (One API's answer there): the openai SDK retries every 5xx twice,
    # and a missing channel does not appear between retries.
    return 404 if isinstance(error, NoChannel) else error.status_code


def error_answer(error: TollwayError, request_id: str = "") -> tuple[int, bytes]:
    """(status, body) of a failed Responses request, in OpenAI's error shape."""
    body = error.openai_body(request_id)
    if isinstance(error, NoChannel):
        body["error"].update(type="invalid_request_error", code="model_not_found", param="model")
    return error_status(error), orjson.dumps(body)
