"""Reading a stream translator's OpenAI SSE output back as JSON payloads."""

from __future__ import annotations

import json
from typing import Any


def frames(out: list[bytes]) -> list[Any]:
    """The JSON payloads of OpenAI SSE frames, `[DONE]` as the string."""
    payloads: list[Any] = []
    for frame in b"".join(out).split(b"\n\n"):
        if frame:
            assert frame.startswith(b"data: ")
            body = frame[6:]
            payloads.append("[DONE]" if body == b"[DONE]" else json.loads(body))
    return payloads
