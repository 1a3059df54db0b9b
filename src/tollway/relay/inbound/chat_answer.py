"""Reading a whole OpenAI chat completion (as Tollway's adaptors write it) into what every inbound API answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import bad_answer, body_error, json_object, obj, upstream_error
from tollway.relay.usage import Usage, from_openai


@dataclass(frozen=True)
class ToolCall:
    """One function call of an answer, its arguments as the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass
class Choice:
    """One choice: what it said, what it thought, the functions it called and why it stopped."""

    index: int = 0
    text: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    finish: str | None = None


@dataclass
class Completion:
    """A chat completion: its choices (at least one) and the upstream's usage, if it reported any."""

    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None


def reasoning_of(message: dict[str, Any]) -> str:
    """The reasoning text of a message or delta: `reasoning_content` (DeepSeek, Tollway) or `reasoning` (OpenRouter)."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def said_of(message: dict[str, Any]) -> str:
    """The text of a message or delta: its content (a string or text parts) and any refusal."""
    content = message.get("content")
    text = content if isinstance(content, str) else text_of(content, untyped=True)
    refusal = message.get("refusal")
    return text + refusal if isinstance(refusal, str) else text


def arguments_text(arguments: Any) -> str:
    """A function call's arguments as JSON text (some providers send an object)."""
    if isinstance(arguments, str):
        return arguments
    return "" if arguments is None else orjson.dumps(arguments).decode()


def _calls(message: dict[str, Any]) -> list[ToolCall]:
    calls = message.get("tool_calls")
    found = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        function = obj(call.get("function")) if isinstance(call, dict) else {}
        if function.get("name"):
            call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{position}"
            found.append(ToolCall(call_id, str(function["name"]), arguments_text(function.get("arguments"))))
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        found.append(ToolCall("call_function", str(legacy["name"]), arguments_text(legacy.get("arguments"))))
    return found


def read_completion(body: bytes) -> Completion:
    """The completion in an answer body; raises the UpstreamError an error body or an unreadable answer is."""
    data = json_object(body)
    if body_error(data) is not None:
        raise upstream_error(502, body)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise bad_answer("upstream returned a chat completion without choices")
    read = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            continue
        message = obj(choice.get("message"))
        index = choice.get("index")
        finish = choice.get("finish_reason")
        read.append(Choice(index if isinstance(index, int) and not isinstance(index, bool) else position,
                           said_of(message), reasoning_of(message), _calls(message),
                           finish if isinstance(finish, str) else None))
    if not read:
        raise bad_answer("upstream returned a chat completion without choices")
    return Completion(str(data.get("id") or ""), str(data.get("model") or ""), read, from_openai(data.get("usage")))
