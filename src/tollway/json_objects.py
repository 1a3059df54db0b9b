"""Text that must hold a JSON object: request bodies and option values (strictly), stored columns (leniently)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from tollway.errors import InvalidRequest

EMPTY_BODY = "request body is empty; send a JSON object"
NOT_AN_OBJECT = "request body must be a JSON object"


class NotAnObject(ValueError):
    """The text is no JSON object: `error` is the decoder's complaint, or None when it is JSON of another kind."""

    def __init__(self, error: json.JSONDecodeError | None) -> None:
        super().__init__(str(error) if error is not None else "not a JSON object")
        self.error = error


def parse_object(text: str | bytes, loads: Callable[[str | bytes], Any] = orjson.loads) -> dict[str, Any]:
    """The JSON object in `text` (decoded by `loads`), or NotAnObject."""
    try:
        value = loads(text)
    except json.JSONDecodeError as exc:  # orjson's error is a subclass
        raise NotAnObject(exc) from exc
    if not isinstance(value, dict):
        raise NotAnObject(None)
    return value


def stored_object(text: str | None) -> dict[str, Any]:
    """A stored column's JSON object; {} when it is empty, not JSON or not an object (older writers allowed those)."""
    if not text:
        return {}
    try:
        return parse_object(text)
    except NotAnObject:
        return {}


def body_object(raw: bytes, *, empty: str = EMPTY_BODY) -> dict[str, Any]:
    """A request body's JSON object, or InvalidRequest saying what is wrong (`empty` when there is no body)."""
    if not raw.strip():
        raise InvalidRequest(empty)
    try:
        return parse_object(raw)
    except NotAnObject as exc:
        if exc.error is None:
            raise InvalidRequest(NOT_AN_OBJECT) from None
        raise InvalidRequest(f"request body is not valid JSON: {exc.error}") from exc.error
