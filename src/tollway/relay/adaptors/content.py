"""Reading what an OpenAI client sent: message content (text, images, data URLs), stop sequences, embedding inputs."""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay.calls import Call


def texts_of(content: Any, *, untyped: bool = False) -> list[str]:
    """The texts of a message content: the string itself, or its text parts (`untyped`: parts without a type too)."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(part.get("text") or "") for part in content
                if isinstance(part, dict) and part.get("type", "text" if untyped else None) == "text"]
    return []


def text_of(content: Any, *, untyped: bool = False) -> str:
    """The text of a message content: the string itself, or its text parts joined."""
    return "".join(texts_of(content, untyped=untyped))


def image_url_of(part: Any) -> str | None:
    """The URL of an `image_url` content part, as sent (it may be empty); None for other parts."""
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) else None


def data_url(url: str, default: str = "application/octet-stream") -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL; None for any other URL."""
    head, comma, data = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    return head[5:].removesuffix(";base64") or default, data


def stop_list(value: Any) -> list[str]:
    """`stop`-style values (a string or a list of strings) as a list, without empty ones."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []


def inputs_of(call: Call) -> list[str]:
    """An embeddings call's input as a list of strings; token arrays are refused."""
    value = call.body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise UpstreamError("this provider takes 'input' as a string or an array of strings", status_code=400,
                        error_type="invalid_request_error", code="invalid_input", param="input")
