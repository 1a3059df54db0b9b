"""OpenAI's Responses API (`POST /v1/responses`) for the mock OpenAI upstream: what it checks and what it answers.

Shapes follow the API reference's examples: a Response object with `output` items (message, function_call) and
`usage` in input/output tokens; a stream of `event:`/`data:` pairs from response.created to response.completed,
each with its sequence_number.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.upstreams.openai_mock import Plan

# Chat Completions' fields the Responses API refuses ("Unsupported parameter"), as a passthrough must not send them.
CHAT_ONLY = ("messages", "max_tokens", "max_completion_tokens", "response_format", "stream_options", "n")


def problem(body: Any) -> str:
    """What OpenAI would refuse in a Responses body, or ""."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in CHAT_ONLY:
        if name in body:
            return f"Unsupported parameter: '{name}'."
    if not isinstance(body.get("model"), str):
        return "Missing required parameter: 'model'."
    if not isinstance(body.get("input"), str | list):
        return "Missing required parameter: 'input'."
    return ""


def usage(plan: Plan) -> dict[str, Any]:
    output = len(plan.pieces)
    return {"input_tokens": plan.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": plan.prompt_tokens + output}


def items(plan: Plan) -> list[dict[str, Any]]:
    """The output items of the plan's answer, finished."""
    if plan.tool_call:
        return [{"type": "function_call", "id": "fc_67ca09c6bedc8190a7abfec07b1a1332", "call_id": "call_abc123",
                 "name": "get_weather", "arguments": "{\"city\":\"Boston\"}", "status": "completed"}]
    text = {"type": "output_text", "text": "".join(plan.pieces), "annotations": []}
    return [{"type": "message", "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6", "status": "completed",
             "role": "assistant", "content": [text]}]


def response(plan: Plan, model: str, body: dict[str, Any], status: str = "completed",
             output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    done = status == "completed"
    return {"id": "resp_67ccd2bed1ec8190b14f964abc054267", "object": "response", "created_at": int(time.time()),
            "status": status, "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "model": model,
            "output": items(plan) if output is None else output, "parallel_tool_calls": True,
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": 1.0, "text": {"format": {"type": "text"}},
            "tool_choice": "auto", "tools": body.get("tools") or [], "top_p": 1.0, "truncation": "disabled",
            "usage": usage(plan) if done else None, "user": None, "metadata": {}}


def events(plan: Plan, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream of the plan's answer (without sequence numbers), or of its failure first."""
    begun = response(plan, model, body, "in_progress", [])
    out: list[dict[str, Any]] = [{"type": "response.created", "response": begun},
                                 {"type": "response.in_progress", "response": begun}]
    if plan.stream_error is not None:
        return [*out, {"type": "error", **plan.stream_error}]
    item = items(plan)[0]
    where = {"item_id": item["id"], "output_index": 0}
    if plan.tool_call:
        out.append({"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": "",
                                                                                       "status": "in_progress"}})
        out += [{"type": "response.function_call_arguments.delta", **where, "delta": part}
                for part in ["{\"ci", "ty\":", "\"Boston\"}"]]
        out.append({"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})
    else:
        text = "".join(plan.pieces)
        part = {"type": "output_text", "text": "", "annotations": []}
        out.append({"type": "response.output_item.added", "output_index": 0,
                    "item": {**item, "status": "in_progress", "content": []}})
        out.append({"type": "response.content_part.added", **where, "content_index": 0, "part": part})
        out += [{"type": "response.output_text.delta", **where, "content_index": 0, "delta": piece}
                for piece in plan.pieces]
        out.append({"type": "response.output_text.done", **where, "content_index": 0, "text": text})
        out.append({"type": "response.content_part.done", **where, "content_index": 0, "part": {**part, "text": text}})
    out.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    out.append({"type": "response.completed", "response": response(plan, model, body)})
    return out
