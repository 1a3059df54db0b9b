"""Anthropic Messages requests (`POST /v1/messages`, `/v1/messages/count_tokens`) as OpenAI chat requests.

Malformed bodies are InvalidRequest (400, nothing is tried). What is well formed but cannot travel as an
OpenAI chat request (server tools, files by id, documents by URL) is `unsupported`: a retryable 400 that
names the field, so the pipeline may still try a Claude channel, which takes the body as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tollway.billing.tokenizer import Counter
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.anthropic_messages import THINKING_BUDGETS
from tollway.relay.adaptors.failures import obj, unsupported
from tollway.relay.inbound.chat_body import (
    answerable,
    data_url,
    effort_of,
    image_part,
    integer,
    number,
    streamed,
    strings,
    tool_list,
    tool_result,
)

_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


@dataclass(frozen=True)
class MessagesAsk:
    """What the answer to a Messages request needs to know about the request."""

    model: str
    stream: bool = False
    # The client turned thinking on, so reasoning comes back as thinking blocks (never unasked: clients
    # commonly read content[0].text).
    thinking: bool = False


def _refuse(what: str, param: str) -> UpstreamError:
    return unsupported(f"{what} cannot be translated for this channel; use a Claude channel", param=param)


def _source_part(block: dict[str, Any], param: str) -> dict[str, Any]:
    """An image or document block's source as an OpenAI content part."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"'{param}.source' must be an object", param=f"{param}.source")
    kind = source.get("type")
    image = block.get("type") == "image"
    if kind == "base64" and isinstance(source.get("data"), str):
        media_type = str(source.get("media_type") or ("image/png" if image else "application/pdf"))
        url = data_url(media_type, source["data"])
        if image:
            return image_part(url)
        return {"type": "file", "file": {"file_data": url, "filename": str(block.get("title") or "document.pdf")}}
    if kind == "url" and isinstance(source.get("url"), str) and image:
        return image_part(source["url"])
    if kind == "text" and isinstance(source.get("data"), str) and not image:
        return {"type": "text", "text": source["data"]}
    raise _refuse(f"a {block.get('type')} with a source of type {kind!r}", f"{param}.source.type")


def _part(block: Any, param: str) -> dict[str, Any] | None:
    """An OpenAI content part of a user content block; None for blocks that carry nothing for the model."""
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, dict):
        raise InvalidRequest(f"'{param}' must be an object", param=param)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"'{param}.text' must be a string", param=f"{param}.text")
        return {"type": "text", "text": text} if text else None
    if kind in ("image", "document"):
        return _source_part(block, param)
    raise _refuse(f"content blocks of type {kind!r}", f"{param}.type")


def _tool_result(block: dict[str, Any], param: str) -> tuple[dict[str, Any], list[Any]]:
    content = block.get("content")
    if isinstance(content, str) or content is None:
        parts = [{"type": "text", "text": content or ""}]
    elif isinstance(content, list):
        parts = [part for i, item in enumerate(content) if (part := _part(item, f"{param}.content[{i}]"))]
    else:
        raise InvalidRequest(f"'{param}.content' must be a string or an array", param=f"{param}.content")
    return tool_result(str(block.get("tool_use_id") or ""), parts, error=block.get("is_error") is True)


def _user(content: list[Any], param: str) -> list[dict[str, Any]]:
    """Tool results first (OpenAI wants them right after the calls), then the rest as one user message."""
    turns: list[dict[str, Any]] = []
    spilled: list[Any] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{param}[{i}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            message, images = _tool_result(block, where)
            turns.append(message)
            spilled += images
        elif (part := _part(block, where)) is not None:
            parts.append(part)
    parts = spilled + parts
    if len(parts) == 1 and parts[0]["type"] == "text":
        turns.append({"role": "user", "content": parts[0]["text"]})
    elif parts:
        turns.append({"role": "user", "content": parts})
    return turns


def _assistant(content: list[Any], param: str) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{param}[{i}]"
        kind = block.get("type") if isinstance(block, dict) else "text" if isinstance(block, str) else None
        if kind == "text":
            texts.append(block if isinstance(block, str) else str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = block.get("input") if isinstance(block.get("input"), dict) else {}
            calls.append({"id": str(block.get("id") or ""), "type": "function",
                          "function": {"name": str(block.get("name") or ""),
                                       "arguments": orjson.dumps(arguments).decode()}})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the model's earlier thoughts: chat upstreams take none back
        else:
            raise _refuse(f"assistant content blocks of type {kind!r}", f"{where}.type")
    text = "".join(texts)
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    source = body.get("messages")
    if not isinstance(source, list) or not source:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, list):
        system = "\n".join(str(block.get("text") or "") for block in system
                           if isinstance(block, dict) and block.get("type", "text") == "text")
    if system is not None and not isinstance(system, str):
        raise InvalidRequest("'system' must be a string or an array of text blocks", param="system")
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(source):
        param = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"'{param}.role' must be 'user' or 'assistant'", param=f"{param}.role")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise InvalidRequest(f"'{param}.content' must be a string or an array", param=f"{param}.content")
        if role == "user":
            out += _user(content, f"{param}.content")
        elif (reply := _assistant(content, f"{param}.content")) is not None:
            out.append(reply)
    return answerable(out, "messages")


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tool_list(body)):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequest(f"'tools[{i}]' must be an object with a 'name'", param=f"tools[{i}]")
        if tool.get("type", "custom") != "custom":
            raise _refuse(f"Anthropic's {tool['type']} tool", f"tools[{i}].type")
        schema = tool.get("input_schema")
        function: dict[str, Any] = {"name": tool["name"],
                                    "parameters": schema if isinstance(schema, dict) else {"type": "object"}}
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(chat: dict[str, Any], choice: Any) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if choice.get("disable_parallel_tool_use") is True:
        chat["parallel_tool_calls"] = False


def _reasoning(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(OpenAI reasoning_effort, whether thinking is on) from `thinking` and `output_config.effort`."""
    thinking, config = obj(body.get("thinking")), obj(body.get("output_config"))
    effort = _EFFORTS.get(str(config.get("effort")))
    kind = thinking.get("type")
    if kind == "enabled":
        budget = integer(thinking, "budget_tokens", "thinking.budget_tokens") or 0
        return effort or effort_of(budget, THINKING_BUDGETS), True
    return effort, kind == "adaptive"


def chat_request(body: Any, *, counting: bool = False) -> tuple[dict[str, Any], MessagesAsk]:
    """(the OpenAI chat body, what its answer needs) of a Messages request (`counting`: for count_tokens)."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string", param="model")
    chat: dict[str, Any] = {"model": model, "messages": _messages(body)}
    max_tokens = integer(body, "max_tokens")
    if max_tokens is None and not counting:
        raise InvalidRequest("'max_tokens' is required", param="max_tokens")
    if max_tokens is not None:
        if max_tokens < 1:
            raise InvalidRequest("'max_tokens' must be at least 1", param="max_tokens")
        chat["max_tokens"] = max_tokens
    for name in ("temperature", "top_p", "top_k"):
        value = number(body, name)
        if value is not None:
            chat[name] = value
    stops = strings(body.get("stop_sequences"), "stop_sequences")
    if stops:
        chat["stop"] = stops
    tools = _tools(body)
    if tools:
        chat["tools"] = tools
        _tool_choice(chat, body.get("tool_choice"))
    effort, thinking = _reasoning(body)
    if effort:
        chat["reasoning_effort"] = effort
    output = obj(body.get("output_config")).get("format")
    if isinstance(output, dict) and output.get("type") == "json_schema" and isinstance(output.get("schema"), dict):
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": output["schema"]}}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        chat["user"] = metadata["user_id"]
    stream = body.get("stream") is True and not counting
    return streamed(chat, stream), MessagesAsk(model, stream, thinking)


def count_tokens(body: Any, counter: Counter) -> bytes:
    """`/v1/messages/count_tokens`'s answer `{"input_tokens": n}`, counted here (for channels that cannot count)."""
    chat, _ = chat_request(body, counting=True)
    total = counter.prompt(chat)
    if chat.get("tools"):
        total += counter.text(orjson.dumps(chat["tools"]).decode())
    return orjson.dumps({"input_tokens": total})
