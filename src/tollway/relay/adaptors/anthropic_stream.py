"""Anthropic stream events as OpenAI chat.completion.chunk frames (the SSE reader here, Bedrock's in aws.py)."""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay.adaptors.anthropic_replies import error_of, prompt_usage
from tollway.relay.adaptors.anthropic_terms import finish_reason
from tollway.relay.adaptors.base import StreamState
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import ChunkWriter
from tollway.relay.calls import Call
from tollway.relay.usage import Usage


class ClaudeEvents:
    """Converts parsed Anthropic stream events one by one, keeping what the stream has told so far."""

    def __init__(self, call: Call, model: str, state: StreamState) -> None:
        self.state = state
        # The role goes with the first content chunk, not ahead of it, so that an error event arriving first
        # still counts as "before the first byte" and can go to another channel.
        self.writer = ChunkWriter(call, model, state, logprobs=False)
        # Anthropic content-block index → OpenAI tool-call index (the ordinal among tool_use blocks).
        self._tools: dict[int, int] = {}
        self._arguments: set[int] = set()  # tool blocks that received argument text
        self._prompt = (0, 0)
        self._output = 0
        self._ended = False

    def _usage(self) -> Usage:
        prompt, cached = self._prompt
        return Usage(prompt, self._output, cached_tokens=cached)

    def event(self, event: dict[str, Any]) -> list[bytes]:
        """The OpenAI frames for one Anthropic event."""
        if self.state.error is not None:
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._start(event)
        if kind == "content_block_stop":
            return self._stop(event)
        if kind == "message_start":
            message = event["message"] if isinstance(event.get("message"), dict) else {}
            self.writer.begin(f"chatcmpl-{message.get('id') or ''}")
            self.writer.model = str(message.get("model") or self.writer.model)
            self._prompt = prompt_usage(message.get("usage"))
            return []
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            self._message_stop(event)
            return []
        if kind == "error":
            return self.fail(error_of(event.get("error")))
        return []  # ping, and event types added later

    def fail(self, error: UpstreamError) -> list[bytes]:
        """An error from the provider: before any output it is the attempt's failure, after it an error frame."""
        return self.writer.error(error)

    def _start(self, event: dict[str, Any]) -> list[bytes]:
        block = event.get("content_block")
        if not isinstance(block, dict):
            return []
        index = event.get("index")
        if block.get("type") == "tool_use" and isinstance(index, int):
            ordinal = self._tools[index] = len(self._tools)
            return self.writer.tool_call(ordinal, str(block.get("id") or ""), str(block.get("name") or ""),
                                         null_content=True)
        if block.get("type") == "text" and block.get("text"):
            return self.writer.content(str(block["text"]))
        return []

    def _delta(self, event: dict[str, Any]) -> list[bytes]:
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            text = str(delta.get("text") or "")
            return self.writer.content(text) if text else []
        if kind == "thinking_delta":
            text = str(delta.get("thinking") or "")
            return self.writer.reasoning(text) if text else []
        if kind == "input_json_delta":
            index = event.get("index")
            part = str(delta.get("partial_json") or "")
            if not part or not isinstance(index, int) or index not in self._tools:
                return []
            self._arguments.add(index)
            return self.writer.arguments(self._tools[index], part)
        return []  # signature_delta, citations_delta

    def _stop(self, event: dict[str, Any]) -> list[bytes]:
        index = event.get("index")
        if isinstance(index, int) and index in self._tools and index not in self._arguments:
            # A tool called without arguments streams none; OpenAI clients expect an empty object.
            return self.writer.arguments(self._tools[index], "{}")
        return []

    def _message_delta(self, event: dict[str, Any]) -> list[bytes]:
        usage = event.get("usage")
        if isinstance(usage, dict):
            # output_tokens is cumulative; newer API versions repeat the input counts here too.
            output = usage.get("output_tokens")
            if isinstance(output, int) and output >= 0:
                self._output = output
            prompt = prompt_usage(usage)
            if prompt[0]:
                self._prompt = prompt
            self.state.usage = self._usage()
        delta = event["delta"] if isinstance(event.get("delta"), dict) else {}
        stop = delta.get("stop_reason")
        if stop is None or self._ended:
            return []
        self._ended = True
        # Not `finish`: the stream ends with message_stop, which may still bring Bedrock's usage.
        return [self.writer.delta({}, finish_reason(stop))]

    def _message_stop(self, event: dict[str, Any]) -> None:
        self.state.finished = True
        metrics = event.get("amazon-bedrock-invocationMetrics")
        if self.state.usage is None and isinstance(metrics, dict):
            # Bedrock's own count, for a stream that carried no Anthropic usage.
            prompt, output = metrics.get("inputTokenCount"), metrics.get("outputTokenCount")
            if isinstance(prompt, int) and isinstance(output, int):
                self.state.usage = Usage(prompt, output)

    def close(self, usage: Usage | None) -> list[bytes]:
        """The usage chunk when one is owed (none after an error), then `data: [DONE]`."""
        return self.writer.close(None if self.state.error is not None else usage or self.state.usage)


class AnthropicStream(LineStream):
    """Reads Anthropic's SSE (`event:` / `data:` lines) and converts each event."""

    def __init__(self, call: Call, model: str) -> None:
        super().__init__()
        self.events = ClaudeEvents(call, model, self.state)

    def line(self, line: bytes) -> list[bytes]:
        # event: lines (the data repeats the type), blank lines and comments carry nothing.
        event = data_object(line)
        return self.events.event(event) if event is not None else []

    def end(self, usage: Usage | None) -> list[bytes]:
        return self.events.close(usage)
