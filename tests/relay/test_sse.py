"""The SSE line splitter accepts every provider's framing."""

from __future__ import annotations

from tollway.relay import sse


def test_lines_split_across_chunks_and_line_endings() -> None:
    splitter = sse.LineSplitter()
    assert splitter.feed(b"data: a\r\nda") == [b"data: a"]
    assert splitter.feed(b"ta:b\n\n:comment\r") == [b"data:b", b""]
    assert splitter.feed(b"\n") == [b":comment"]
    assert splitter.feed(b"data: tail") == []
    assert splitter.close() == [b"data: tail"]


def test_data_of() -> None:
    assert sse.data_of(b"data: {}") == b"{}"
    assert sse.data_of(b"data:{}") == b"{}"
    assert sse.data_of(b"event: x") is None
    assert sse.data_of(b": keep-alive") is None
