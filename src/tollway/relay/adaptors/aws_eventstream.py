"""AWS event-stream framing (application/vnd.amazon.eventstream), decoded incrementally as bytes arrive.

A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes, the headers, the payload,
and a CRC32 of everything before it. All integers are big-endian.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

from tollway.errors import UpstreamError

_PRELUDE = 12
_MIN_MESSAGE = 16
_MAX_MESSAGE = 16 * 1024 * 1024  # the format's own limit
_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}  # byte, short, int, long, timestamp (ms)

HeaderValue = bool | int | bytes | str


@dataclass(frozen=True)
class Message:
    headers: dict[str, HeaderValue]
    payload: bytes


def _broken(why: str) -> UpstreamError:
    return UpstreamError(f"malformed event stream from upstream: {why}", status_code=502,
                         code="bad_upstream_stream", retryable=True)


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    """The headers block of one message."""
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(data):
            size = data[at]
            name = data[at + 1:at + 1 + size].decode()
            at += 1 + size
            kind = data[at]
            at += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                layout = _FIXED[kind]
                (value,) = struct.unpack_from(layout, data, at)
                at += struct.calcsize(layout)
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, at)
                raw = data[at + 2:at + 2 + length]
                if len(raw) != length:
                    raise _broken("header value is cut short")
                value = raw.decode() if kind == 7 else bytes(raw)
                at += 2 + length
            elif kind == 9:
                value = str(uuid.UUID(bytes=bytes(data[at:at + 16])))
                at += 16
            else:
                raise _broken(f"unknown header type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise _broken(f"bad headers ({exc})") from exc
    return headers


class Decoder:
    """Collects bytes and returns the messages they complete (a message may span many chunks)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still waiting for the rest."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= _PRELUDE:
            total, header_size, prelude_crc = struct.unpack_from(">III", self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise _broken("prelude checksum mismatch")
            if not _MIN_MESSAGE <= total <= _MAX_MESSAGE or header_size > total - _MIN_MESSAGE:
                raise _broken(f"impossible lengths {total}/{header_size}")
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[:-4]) != message_crc:
                raise _broken("message checksum mismatch")
            headers = parse_headers(frame[_PRELUDE:_PRELUDE + header_size])
            messages.append(Message(headers, frame[_PRELUDE + header_size:-4]))
        return messages
