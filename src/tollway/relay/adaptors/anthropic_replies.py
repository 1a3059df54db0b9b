"""Reading Anthropic answers: whole messages, stop reasons, usage and errors, in OpenAI's terms."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic_terms import ERROR_STATUS, finish_reason
from tollway.relay.adaptors.failures import json_of, provider_error, upstream_error
from tollway.relay.adaptors.openai_out import assistant_message, choice, completion, tool_call
from tollway.relay.calls import Call
from tollway.relay.usage import Usage


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def prompt_usage(usage: Any) -> tuple[int, int]:
    """(prompt tokens including cache reads and writes, cache reads) of an Anthropic usage object."""
    if not isinstance(usage, dict):
        return 0, 0
    read = _count(usage.get("cache_read_input_tokens"))
    return _count(usage.get("input_tokens")) + read + _count(usage.get("cache_creation_input_tokens")), read


def usage_of(usage: Any) -> Usage | None:
    """OpenAI usage of an Anthropic usage object; None when it counts nothing."""
    prompt, cached = prompt_usage(usage)
    output = _count(usage.get("output_tokens")) if isinstance(usage, dict) else 0
    if not (prompt or output):
        return None
    return Usage(prompt, output, cached_tokens=cached)


def error_of(error: Any, status: int = 0) -> UpstreamError:
    """An UpstreamError for Anthropic's `error` object (`{"type", "message"}`), given the HTTP status if any."""
    kind = str(error.get("type") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    code = ERROR_STATUS.get(kind) or (503 if status == 529 else status if status >= 400 else 500)
    if "credit balance" in message.lower():
        code = 403  # Anthropic sends an exhausted balance as a 400: it is this channel's quota, not the request.
    return provider_error(message or f"Anthropic returned {kind or 'an error'}", code, kind or f"upstream_{code}",
                          kind=kind or "upstream_error")


def claude_error(status: int, body: bytes) -> UpstreamError:
    """An UpstreamError for a failed Anthropic answer (`{"type":"error","error":{...}}`, or anything else)."""
    data = json_of(body)
    if isinstance(data, dict) and isinstance(data.get("error"), dict) and data["error"].get("type"):
        return error_of(data["error"], status)
    return upstream_error(503 if status == 529 else status, body)


def openai_completion(call: Call, data: dict[str, Any], model: str) -> tuple[bytes, Usage | None, str]:
    """(OpenAI chat.completion, usage, generated text) of an Anthropic message."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") if isinstance(block.get("input"), dict) else {}).decode()
            calls.append(tool_call(str(block.get("id") or ""), str(block.get("name") or ""), arguments))
    text = "".join(texts)
    reply = assistant_message(text if text or not calls else None, reasoning="".join(thoughts), tool_calls=calls)
    usage = usage_of(data.get("usage"))
    finish = finish_reason(data.get("stop_reason"))
    answer = completion(call, str(data.get("model") or model), [choice(0, reply, finish)], usage,
                        answer_id=f"chatcmpl-{data.get('id') or ''}")
    generated = text + "".join(thoughts) + "".join(c["function"]["name"] + c["function"]["arguments"] for c in calls)
    return answer, usage, generated
