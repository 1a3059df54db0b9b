"""What a relay route answers, independent of the server: a status, a media type and a body, whole or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.errors import TollwayError

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


class LastChunk(bytes):
    """A stream's final chunk, sent together with the end of the body (one write to the client instead of two)."""


@dataclass(slots=True)
class Reply:
    """One answer to a relay call; `relay/asgi.py` sends it."""

    status: int
    media_type: str
    body: bytes = b""
    # Set for a streamed answer: its chunks, each sent to the client as soon as it is ready (a LastChunk ends it).
    stream: AsyncIterator[bytes] | None = None
    # Runs once after the answer was sent or abandoned (closes the upstream; settles a stream the client left).
    finish: Callable[[], Awaitable[None]] | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status, JSON, orjson.dumps(data))


def error_headers(exc: TollwayError) -> tuple[tuple[bytes, bytes], ...]:
    """The headers an error's answer carries besides its body (Retry-After on a rate limit)."""
    return tuple((name.lower().encode(), value.encode()) for name, value in exc.headers.items())


def error_reply(exc: TollwayError, request_id: str) -> Reply:
    """The error in OpenAI's shape, with the status its class carries."""
    return Reply(exc.status_code, JSON, orjson.dumps(exc.openai_body(request_id)), headers=error_headers(exc))
