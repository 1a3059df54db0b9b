"""OpenAI chat answers (whole and streamed) that the inbound tests feed to the translators.

They follow the OpenAI recordings in reference/provider-protocols.md §1 (openai-python snapshots: a text
stream and a tool-call stream with include_usage), extended with reasoning_content the way DeepSeek and
Tollway's own adaptors write it.
"""

from __future__ import annotations

import json
from typing import Any

from tests.relay.inbound.loopback import chat_sse


def completion(message: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = None) -> bytes:
    """A whole chat.completion of one choice."""
    answer = {"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion", "created": 1741569952,
              "model": "gpt-4o-2024-08-06",
              "choices": [{"index": 0, "message": {"role": "assistant", **message}, "logprobs": None,
                           "finish_reason": finish}],
              "usage": usage or {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                                 "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}}
    return json.dumps(answer).encode()


HELLO = completion({"content": "Hello! How can I assist you today?", "refusal": None, "annotations": []})
TOOL_CALL = completion({"content": None, "tool_calls": [
    {"id": "call_abc123", "type": "function",
     "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}}]},
    "tool_calls")
THOUGHTFUL = completion({"content": "There are infinitely many.", "reasoning_content": "Dirichlet's theorem..."},
                        usage={"prompt_tokens": 30, "completion_tokens": 50, "total_tokens": 80,
                               "prompt_tokens_details": {"cached_tokens": 12},
                               "completion_tokens_details": {"reasoning_tokens": 40}})


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62", "object": "chat.completion.chunk", "created": 1727346182,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_143bb8492c",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


_USAGE = {"id": "chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62", "object": "chat.completion.chunk", "created": 1727346182,
          "model": "gpt-4o-2024-08-06", "choices": [],
          "usage": {"prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60,
                    "completion_tokens_details": {"reasoning_tokens": 0}}}

# The recorded tool-call stream (snapshot 2018feb66ae1…), its arguments split as recorded.
TOOL_CHUNKS = [
    _chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_4XzlGBLtUe9dy3GVNV4jhq7h", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}], "refusal": None}),
    *[_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
      for piece in ('{"', "city", '":"', "New", " York", " City", '"}')],
    _chunk({}, "tool_calls"),
    _USAGE,
]
TOOL_STREAM = chat_sse(TOOL_CHUNKS)

# A text stream with reasoning first (DeepSeek's reasoning_content), then the answer.
TEXT_CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"reasoning_content": "The user greets me."}),
    _chunk({"content": "Hello"}),
    _chunk({"content": "!"}),
    _chunk({}, "stop"),
    {**_USAGE, "usage": {"prompt_tokens": 14, "completion_tokens": 30, "total_tokens": 44,
                         "prompt_tokens_details": {"cached_tokens": 4},
                         "completion_tokens_details": {"reasoning_tokens": 5}}},
]
TEXT_STREAM = chat_sse(TEXT_CHUNKS)

# Text, then two function calls in a row.
MIXED_STREAM = chat_sse([
    _chunk({"role": "assistant", "content": "Checking both."}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    _chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                            "function": {"name": "get_time", "arguments": ""}}]}),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"zone":"CET"}'}}]}),
    _chunk({}, "tool_calls"),
    _USAGE,
])


def error_frame(message: str = "upstream broke off", code: str = "upstream_500") -> bytes:
    """The OpenAI error event an adaptor writes for a failure after the stream started."""
    return b"data: " + json.dumps({"error": {"message": message, "type": "upstream_error", "param": None,
                                             "code": code}}).encode() + b"\n\n"
