"""OpenAI chat requests as Anthropic Messages requests (shared by the Anthropic and Bedrock adaptors)."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors import failures
from tollway.relay.adaptors.content import data_url, image_url_of, texts_of
from tollway.relay.calls import Call

# One API's default when the client gives no max_tokens (Anthropic requires one).
DEFAULT_MAX_TOKENS = 4096
# OpenAI's reasoning_effort as extended-thinking budgets; Anthropic's smallest budget is 1024.
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024
_SYSTEM_ROLES = ("system", "developer")


def unsupported(what: str) -> UpstreamError:
    """This channel cannot serve the request; another channel (of another type) may."""
    return failures.unsupported(f"Anthropic channels do not support {what}")


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = image_url_of(part)
    if not url:
        raise UpstreamError("an image_url part has no url", status_code=400, code="invalid_image_url")
    inline = data_url(url)
    if inline is None:
        # Not inlined (a URL the pipeline did not fetch): Anthropic can fetch URLs itself.
        return {"type": "image", "source": {"type": "url", "url": url}}
    # Anthropic knows image/jpeg only; some servers label JPEGs image/jpg.
    media_type = "image/jpeg" if inline[0] == "image/jpg" else inline[0]
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": inline[1]}}


def _document(part: dict[str, Any]) -> dict[str, Any]:
    file = part["file"] if isinstance(part.get("file"), dict) else {}
    inline = data_url(str(file.get("file_data") or ""))
    if inline is None:
        raise unsupported("file parts other than inline (file_data) PDF or text documents")
    media_type, data = inline
    block: dict[str, Any] = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    return block


def blocks(content: Any) -> list[dict[str, Any]]:
    """Anthropic content blocks for an OpenAI message content (empty text is dropped: Anthropic refuses it)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            part = {"type": "text", "text": part}
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if isinstance(text, str) and text:
                out.append({"type": "text", "text": text})
        elif kind == "image_url":
            out.append(_image(part))
        elif kind == "file":
            out.append(_document(part))
        else:
            raise unsupported(f"content parts of type {kind!r}")
    return out


def tool_input(arguments: Any) -> dict[str, Any]:
    """OpenAI's arguments string as Anthropic's input object."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = arguments
    # Anthropic takes only an object; anything else is kept under one key rather than lost.
    return value if isinstance(value, dict) else {"arguments": value}


def _tool_uses(message: dict[str, Any]) -> list[dict[str, Any]]:
    uses = []
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        uses.append({"type": "tool_use", "id": str(call.get("id") or ""), "name": str(function.get("name") or ""),
                     "input": tool_input(function.get("arguments"))})
    return uses


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": str(message.get("tool_call_id") or "")}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            result["content"] = content
    elif content:
        result["content"] = blocks(content)
    return result


def _append(messages: list[dict[str, Any]], role: str, content: list[dict[str, Any]]) -> None:
    """Add blocks as a turn, merging with the previous turn of the same role (Anthropic wants alternation)."""
    if not content:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(content)
    else:
        messages.append({"role": role, "content": list(content)})


def _conversation(source: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Anthropic messages) of OpenAI messages."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in source:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in _SYSTEM_ROLES:
            # Anthropic has one system prompt: every system/developer message is hoisted into it, in order
            # (what Anthropic's own OpenAI-compatible endpoint does).
            text = "\n".join(text for text in texts_of(message.get("content")) if text)
            if text:
                system.append(text)
        elif role == "assistant":
            _append(messages, "assistant", blocks(message.get("content")) + _tool_uses(message))
        elif role == "tool":
            _append(messages, "user", [_tool_result(message)])
        elif role == "user":
            _append(messages, "user", blocks(message.get("content")))
        else:
            raise unsupported(f"messages with role {role!r}")
    for message in messages:
        content = message["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            message["content"] = content[0]["text"]
    return "\n\n".join(system), messages


def _stops(stop: Any) -> list[str]:
    values = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    # Anthropic refuses stop sequences made only of whitespace.
    return [value for value in values if isinstance(value, str) and value.strip()]


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" \
            else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        schema = function.get("parameters")
        converted: dict[str, Any] = {"name": function["name"], "input_schema": schema if isinstance(schema, dict)
                                     else {"type": "object", "properties": {}}}
        if function.get("description"):
            converted["description"] = function["description"]
        tools.append(converted)
    return tools


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    converted: dict[str, Any] | None = None
    if choice == "auto":
        converted = {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        converted = {"type": "none"}
    elif isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            converted = {"type": "tool", "name": name}
    if parallel is False and (converted is None or converted["type"] != "none"):
        converted = {**(converted or {"type": "auto"}), "disable_parallel_tool_use": True}
    return converted


def _thinking(body: dict[str, Any], max_tokens: int, client_max: int) -> tuple[dict[str, Any] | None, int]:
    """(thinking config, max_tokens) from the client's `thinking` (Anthropic's own) or `reasoning_effort`."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        return thinking, max_tokens
    budget = THINKING_BUDGETS.get(str(body.get("reasoning_effort") or ""))
    if budget is None:
        return None, max_tokens
    if not client_max:
        # OpenAI's max_completion_tokens counts reasoning; with no limit given leave room for the answer too.
        return {"type": "enabled", "budget_tokens": budget}, budget + DEFAULT_MAX_TOKENS
    budget = min(budget, client_max - 1)
    if budget < MIN_THINKING_BUDGET:
        return None, max_tokens
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def messages_body(call: Call, model: str) -> dict[str, Any]:
    """The Anthropic Messages request body for an OpenAI chat call (with `model` and, when streaming, `stream`)."""
    system, messages = _conversation(call.body.get("messages") or [])
    if not messages and system:
        # A conversation of only a system prompt: Anthropic needs one message, so the prompt becomes it.
        system, messages = "", [{"role": "user", "content": system}]
    body = call.body
    max_tokens = call.max_tokens or DEFAULT_MAX_TOKENS
    thinking, max_tokens = _thinking(body, max_tokens, call.max_tokens)
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    if system:
        out["system"] = system
    if thinking is not None:
        # Extended thinking refuses sampling changes other than top_p in [0.95, 1].
        out["thinking"] = thinking
        top_p = body.get("top_p")
        if isinstance(top_p, int | float) and not isinstance(top_p, bool) and 0.95 <= top_p <= 1:
            out["top_p"] = top_p
    else:
        for name in ("temperature", "top_p", "top_k"):
            value = body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                # OpenAI's temperature goes to 2, Anthropic's to 1.
                out[name] = min(value, 1) if name == "temperature" else value
    stops = _stops(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    tools = _tools(body)
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if call.stream:
        out["stream"] = True
    return out
