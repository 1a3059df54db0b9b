"""Gemini's `streamGenerateContent?alt=sse` as an OpenAI chat stream; independent of URL and auth (Vertex AI too).

Every SSE event is a whole GenerateContentResponse: text and thought deltas, whole function calls, a
cumulative usageMetadata, and a finishReason on the last one. There is no terminal marker.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay.adaptors.gemini_answer import (
    blocked_error,
    blocked_reason,
    call_id,
    function_call,
    gemini_usage,
    parts_of,
)
from tollway.relay.adaptors.gemini_errors import rpc_error
from tollway.relay.adaptors.gemini_terms import finish_reason
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import ChunkWriter, call_arguments, call_opening
from tollway.relay.calls import Call
from tollway.relay.usage import Usage


class GeminiStream(LineStream):
    """Translates Gemini SSE events into OpenAI chat.completion.chunk events, event by event."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        # One choice per candidate; their tool calls are numbered per candidate, so they are written here.
        self._writer = ChunkWriter(call, call.model, self.state, logprobs=False)
        self._tools: dict[int, int] = {}  # tool calls sent so far, per candidate

    def end(self, usage: Usage | None) -> list[bytes]:
        return self._writer.close(usage)

    def _fail(self, error: UpstreamError) -> list[bytes]:
        # Before any output this is the attempt's failure: the pipeline may still try another channel.
        return self._writer.error(error)

    def line(self, line: bytes) -> list[bytes]:
        event = data_object(line)
        if event is None:
            return []
        if isinstance(event.get("error"), dict):
            # An error sent inside a 200 stream (an overloaded model, an internal error mid-answer).
            return self._fail(rpc_error(event["error"]))
        usage = gemini_usage(event.get("usageMetadata"))
        if usage is not None:
            self.state.usage = usage  # cumulative: the last one counts
        if event.get("responseId"):
            self._writer.begin(f"chatcmpl-{event['responseId']}")
        candidates = event.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            reason = blocked_reason(event)
            return self._fail(blocked_error(reason)) if reason else []
        out: list[bytes] = []
        for position, candidate in enumerate(candidates):
            if isinstance(candidate, dict):
                index = candidate.get("index")
                out += self._candidate(index if isinstance(index, int) else position, candidate)
        return out

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[bytes]:
        said, thought, calls = parts_of(candidate)
        said, thought = [shown for shown in said if shown], [shown for shown in thought if shown]
        deltas = [delta for part in calls for delta in self._tool_call(index, part)]
        text: dict[str, Any] = {}
        if thought:
            text["reasoning_content"] = "".join(thought)
        if said:
            text["content"] = "".join(said)
        if text:
            deltas.insert(0, text)
            self.state.text += thought + said
        finish = candidate.get("finishReason")
        if finish and not deltas and index not in self._writer.spoken:
            deltas.append({"content": ""})  # a candidate stopped before saying anything (SAFETY)
        out = [self._writer.delta(delta, index=index) for delta in deltas]
        if finish:
            self.state.finished = True
            out.append(self._writer.delta({}, finish_reason(finish, bool(self._tools.get(index))), index=index))
        return out

    def _tool_call(self, index: int, part: dict[str, Any]) -> list[dict[str, Any]]:
        """OpenAI's two deltas for one whole Gemini function call: id and name first, then the arguments."""
        number = self._tools.get(index, 0)
        self._tools[index] = number + 1
        name, arguments = function_call(part)
        self.state.text += [name, arguments]
        return [call_opening(number, call_id(part), name), call_arguments(number, arguments)]
