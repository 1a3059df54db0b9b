"""Pieces of the OpenAI chat body that inbound requests become: checked options, images, tool results, effort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollway.errors import InvalidRequest


def number(body: Mapping[str, Any], name: str, param: str = "") -> int | float | None:
    """A numeric option of the client's body, None when absent; anything but a number is refused."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"'{param or name}' must be a number", param=param or name)
    return value


def integer(body: Mapping[str, Any], name: str, param: str = "") -> int | None:
    """A whole-number option of the client's body (1.0 counts as 1: some SDKs write floats), None when absent."""
    value = number(body, name, param)
    if value is None:
        return None
    if value != int(value):
        raise InvalidRequest(f"'{param or name}' must be an integer", param=param or name)
    return int(value)


def tool_list(body: Mapping[str, Any]) -> list[Any]:
    """The client's `tools`, [] when absent; anything but an array is refused."""
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    return tools


def strings(value: Any, param: str) -> list[str]:
    """A list of strings (a lone string counts as one); anything else is refused."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidRequest(f"'{param}' must be an array of strings", param=param)


def data_url(media_type: str, data: str) -> str:
    """A `data:` URL of base64 data."""
    return f"data:{media_type};base64,{data}"


def image_part(url: str, detail: Any = None) -> dict[str, Any]:
    """An OpenAI image_url content part."""
    image: dict[str, Any] = {"url": url}
    if isinstance(detail, str) and detail in ("low", "high", "auto"):
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def tool_result(call_id: str, parts: list[dict[str, Any]], *, error: bool = False) -> tuple[dict[str, Any], list[Any]]:
    """(the tool message, the image parts it cannot hold) of a tool result given as OpenAI content parts."""
    # OpenAI's tool messages carry text only: pictures a tool returned go to a user message after them.
    text = "\n".join(str(part.get("text") or "") for part in parts if part.get("type") == "text")
    if error:
        text = f"Error: {text}" if text else "Error"
    images = [part for part in parts if part.get("type") != "text"]
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def effort_of(budget: int, budgets: Mapping[str, int]) -> str:
    """The least reasoning effort whose budget (in an adaptor's table) covers a thinking budget; "high" above all."""
    for effort, tokens in sorted(budgets.items(), key=lambda item: item[1]):
        if tokens >= budget and tokens > 0:
            return effort
    return "high"


def answerable(messages: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    """The chat messages, refused when nothing but a system prompt is left (an upstream would refuse them)."""
    if not any(message["role"] != "system" for message in messages):
        raise InvalidRequest(f"'{param}' has no content to answer", param=param)
    return messages


def streamed(chat: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The chat body, asking for a stream with its usage at the end when the client streams."""
    if stream:
        # Every adaptor then ends the stream with a usage chunk, which the inbound answer reports.
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat
