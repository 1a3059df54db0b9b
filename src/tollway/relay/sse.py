"""Server-sent events: an incremental line splitter tolerant of every provider's framing, and OpenAI's output frames."""

from __future__ import annotations

DONE = b"data: [DONE]\n\n"


def frame(payload: bytes) -> bytes:
    """One OpenAI SSE event: `data: {json}` and a blank line."""
    return b"data: " + payload + b"\n\n"


class LineSplitter:
    """Splits a byte stream into lines as they complete, accepting LF, CRLF and a trailing CR."""

    def __init__(self) -> None:
        self.pending = b""  # the start of a line whose end has not arrived yet

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines in `data` (plus what was left over before), without their line endings."""
        if self.pending:
            data = self.pending + data
        lines = data.split(b"\n")
        self.pending = lines.pop()
        return [line[:-1] if line.endswith(b"\r") else line for line in lines]

    def close(self) -> list[bytes]:
        """The last line when the stream ended without a newline."""
        rest, self.pending = self.pending.rstrip(b"\r"), b""
        return [rest] if rest else []


def data_of(line: bytes) -> bytes | None:
    """The payload of a `data:` line (with or without the space), or None for any other line."""
    if not line.startswith(b"data:"):
        return None
    payload = line[5:]
    return payload[1:] if payload.startswith(b" ") else payload
