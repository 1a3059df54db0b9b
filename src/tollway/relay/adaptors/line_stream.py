"""Stream translators that read the upstream line by line (SSE or JSON lines), and the JSON object a line carries."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.relay import sse
from tollway.relay.adaptors.base import StreamState, StreamTranslator
from tollway.relay.usage import Usage


def data_object(line: bytes, *, bare: bool = False) -> dict[str, Any] | None:
    """The JSON object of a `data:` line (`bare`: or of a line that is JSON itself); None for anything else."""
    payload = sse.data_of(line)
    if payload is None and bare and line.lstrip().startswith(b"{"):
        payload = line
    if payload is None or not payload.strip():
        return None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class LineStream(StreamTranslator):
    """Splits the upstream's bytes into lines; subclasses translate each line and write the stream's end."""

    def __init__(self) -> None:
        self.state = StreamState()
        self._lines = sse.LineSplitter()

    @property
    def pending(self) -> bytes:
        """Part of a line waiting for the rest of it."""
        return self._lines.pending

    def feed(self, data: bytes) -> list[bytes]:
        return [piece for line in self._lines.feed(data) for piece in self.line(line)]

    def close(self, usage: Usage | None) -> list[bytes]:
        # A last line without a newline is still a line.
        rest = [piece for line in self._lines.close() for piece in self.line(line)]
        return rest + self.end(usage)

    def line(self, line: bytes) -> list[bytes]:
        """What one line (without its line ending) becomes for the client."""
        raise NotImplementedError

    def end(self, usage: Usage | None) -> list[bytes]:
        """The stream's last bytes, after its last line."""
        raise NotImplementedError
