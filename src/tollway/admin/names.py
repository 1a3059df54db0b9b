"""What names may contain, and keeping NUL out of everything the management API stores or searches.

PostgreSQL refuses NUL in text (a driver error, which would be a 500), while SQLite and MySQL store it: it is
refused everywhere, in every JSON body and query parameter, so every database behaves alike. Names (tokens,
channels, redemptions, groups) also refuse the other control characters and the invisible line separators and
bidirectional overrides that would make one name look like another in lists and logs.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from starlette.requests import Request

from tollway.errors import InvalidRequest

# Line/paragraph separators and the bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069).
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control(text: str) -> bool:
    """True when the text holds a control character (C0, DEL, C1) or an invisible separator or direction override."""
    return any(unicodedata.category(ch) == "Cc" or ch in _INVISIBLE for ch in text)


def name(value: str, what: str) -> str:
    """The name, or InvalidRequest when it holds control characters."""
    if has_control(value):
        raise InvalidRequest(f"{what} must not contain control characters")
    return value


def names(joined: str, what: str) -> str:
    """A comma-separated list of names (groups, models), each checked."""
    for item in joined.split(","):
        name(item, what)
    return joined


def refuse_nul(data: dict[str, Any]) -> None:
    """InvalidRequest naming the field when any string (key or value) anywhere in a JSON body holds NUL."""
    for field, top in data.items():
        pending = [field, top]
        while pending:  # iterative: bodies nest as deep as the JSON parser allows
            value = pending.pop()
            if isinstance(value, str):
                if "\x00" in value:
                    raise InvalidRequest(f"'{field}' must not contain NUL characters (\\u0000)")
            elif isinstance(value, dict):
                pending.extend(value.keys())
                pending.extend(value.values())
            elif isinstance(value, list):
                pending.extend(value)


def has_nul_query(request: Request) -> bool:
    """True when a query parameter (name or value) holds NUL."""
    return "%00" in request.url.query or "\x00" in request.url.query


def refuse_nul_query(request: Request) -> None:
    """InvalidRequest when a query parameter (name or value) holds NUL."""
    if has_nul_query(request):
        raise InvalidRequest("query parameters must not contain NUL characters (%00)")
