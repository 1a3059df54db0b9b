"""Type checks of the request fields Tollway itself reads (to bill, route or translate a call), per relay mode.

Every check raises InvalidRequest naming the field (`param`), so a hostile or mistaken body gets a clear 400
before anything is held, sent or logged; fields Tollway only forwards are left for the provider to judge.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import InvalidRequest

MAX_CHOICES = 128  # OpenAI's limit on n


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fail(param: str, what: str, where: str = "") -> InvalidRequest:
    return InvalidRequest(f"'{where or param}' must be {what}", param=param)


def positive(body: dict[str, Any], name: str, limit: int | None = None) -> None:
    """An optional integer field that must be at least 1 (and at most `limit`)."""
    value = body.get(name)
    if value is None:
        return
    if not is_int(value) or value < 1 or (limit is not None and value > limit):
        bound = f"between 1 and {limit}" if limit is not None else "at least 1"
        raise _fail(name, f"an integer {bound}")


def kind(body: dict[str, Any], name: str, test: Any, what: str) -> None:
    """An optional field whose value must pass `test`."""
    if body.get(name) is not None and not test(body[name]):
        raise _fail(name, what)


def string(value: Any) -> bool:
    return isinstance(value, str)


def strings(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def common(body: dict[str, Any]) -> None:
    """Fields every JSON mode may carry."""
    kind(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    for name in ("max_tokens", "max_completion_tokens"):
        positive(body, name)
    positive(body, "n", MAX_CHOICES)
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        kind(body, name, is_number, "a number")
    kind(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") not in (None, True, False):
        raise _fail("stream_options", "a boolean", "stream_options.include_usage")
    kind(body, "user", string, "a string")


def _part(part: Any, where: str) -> None:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _fail("messages", "an object with a string 'type'", where)
    kind_ = part["type"]
    if kind_ == "text" and not isinstance(part.get("text"), str):
        raise _fail("messages", "a string", f"{where}.text")
    if kind_ == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise _fail("messages", "a string or an object with a string 'url'", f"{where}.image_url")
    if kind_ == "input_audio" and not isinstance(part.get("input_audio"), dict):
        raise _fail("messages", "an object", f"{where}.input_audio")


def _tool_call(call: Any, where: str) -> None:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise _fail("messages", "an object with a 'function' object", where)
    if not isinstance(function.get("name", ""), str):
        raise _fail("messages", "a string", f"{where}.function.name")
    if not isinstance(function.get("arguments", ""), str | dict):
        raise _fail("messages", "a JSON string", f"{where}.function.arguments")
    if call.get("id") is not None and not isinstance(call["id"], str):
        raise _fail("messages", "a string", f"{where}.id")


def message(value: Any, index: int) -> None:
    """One chat message: its role, content parts, name and tool calls."""
    where = f"messages[{index}]"
    if not isinstance(value, dict) or not isinstance(value.get("role"), str):
        raise _fail("messages", "an object with a string 'role'", where)
    content = value.get("content")
    if isinstance(content, list):
        for number, part in enumerate(content):
            _part(part, f"{where}.content[{number}]")
    elif content is not None and not isinstance(content, str):
        raise _fail("messages", "a string, an array of content parts or null", f"{where}.content")
    for name in ("name", "tool_call_id"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise _fail("messages", "a string", f"{where}.{name}")
    calls = value.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _fail("messages", "an array", f"{where}.tool_calls")
        for number, call in enumerate(calls):
            _tool_call(call, f"{where}.tool_calls[{number}]")


def tools(body: dict[str, Any]) -> None:
    value = body.get("tools")
    if value is None:
        return
    if not isinstance(value, list):
        raise _fail("tools", "an array")
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _fail("tools", "an object with a 'function' object that has a string 'name'", f"tools[{index}]")


def token_lists(value: Any) -> bool:
    """Text inputs as the OpenAI API takes them: a string, or an array of strings, token ids or lists of token ids."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(v, str) or is_int(v) or (isinstance(v, list) and v and all(is_int(t) for t in v))
               for v in value)
