"""DashScope's stream (`id:` / `event:result` / `:HTTP_STATUS/200` / `data:{json}`) as OpenAI chunks, and its errors."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.failures import obj, provider_error
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import ChunkWriter, tool_call, tool_call_id
from tollway.relay.calls import Call
from tollway.relay.usage import Usage, from_openai

_STATUS_BY_CODE = {
    "InvalidApiKey": 401,
    "InvalidParameter": 400,
    "DataInspectionFailed": 400,
    "data_inspection_failed": 400,
    "Arrearage": 403,
    "ModelNotFound": 404,
    "RequestTimeOut": 504,
    "SystemError": 500,
}


def ali_error(status: int, code: str, message: str) -> UpstreamError:
    """DashScope's error code as an UpstreamError; the HTTP status (or `:HTTP_STATUS/…`) is the fallback."""
    mapped = _STATUS_BY_CODE.get(code)
    if mapped is None:
        if code.startswith("Throttling"):
            mapped = 429
        elif code.startswith(("AccessDenied", "Model.AccessDenied")):
            mapped = 403
        elif code.startswith("InvalidParameter"):
            mapped = 400
        elif code.startswith("InternalError"):
            mapped = 500
        else:
            mapped = status if status >= 400 else 500
    if mapped == 400 and "model not exist" in message.lower():
        mapped = 404  # another channel may serve the model
    if code in ("DataInspectionFailed", "data_inspection_failed"):
        return provider_error(f"content filtered by DashScope: {message}", 400, "content_filter")
    return provider_error(message, mapped, code)


def content_text(content: Any) -> str:
    """Message content as text: a string, or Qwen-VL's list of `{"text": ...}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return ""


def finish_reason(value: Any, tool_calls: bool) -> str | None:
    """OpenAI's finish reason; DashScope says `"null"` while generating and `"stop"` after a tool call."""
    if not isinstance(value, str) or value in ("", "null"):
        return None
    return "tool_calls" if tool_calls and value == "stop" else value


def tool_calls_of(value: Any) -> list[dict[str, Any]]:
    """Tool calls of a whole answer in OpenAI's shape (string arguments, an id on each)."""
    calls = []
    for call in value if isinstance(value, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = "" if arguments is None else orjson.dumps(arguments).decode()
        calls.append(tool_call(call.get("id") or tool_call_id(), str(function.get("name") or ""), arguments))
    return calls


class AliStream(LineStream):
    """Translates a DashScope stream; `incremental=False` diffs the cumulative text of the legacy mode."""

    def __init__(self, call: Call, model: str, *, incremental: bool = True) -> None:
        super().__init__()
        self._writer = ChunkWriter(call, model, self.state)
        self._cumulative = not incremental
        self._event = ""
        self._status = 200
        self._sofar: dict[str, str] = {}  # cumulative mode: what each field (content, arguments) said so far

    def line(self, line: bytes) -> list[bytes]:
        if not line:
            self._event, self._status = "", 200  # an event ends at its blank line
            return []
        if line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
            return []
        if line.startswith(b":HTTP_STATUS/"):
            status = line[13:].strip()
            self._status = int(status) if status.isdigit() else 500
            return []
        chunk = data_object(line)
        if chunk is None or self.state.error is not None:
            return []
        if self._event == "error" or (chunk.get("code") and not chunk.get("output")):
            return self._fail(ali_error(self._status, str(chunk.get("code") or "upstream_error"),
                                        str(chunk.get("message") or "")))
        return self._result(chunk)

    def _fail(self, error: UpstreamError) -> list[bytes]:
        # Before any output the pipeline turns this into an ordinary (retryable) failure; after, it is in-band.
        return self._writer.error(error)

    def _fresh(self, field: str, value: str) -> str:
        """The new part of a field: all of it in incremental mode, the unseen suffix in cumulative mode."""
        if not self._cumulative:
            return value
        before = self._sofar.get(field, "")
        self._sofar[field] = value
        return value[len(before):] if value.startswith(before) else value

    def _result(self, chunk: dict[str, Any]) -> list[bytes]:
        usage = from_openai(chunk.get("usage"))
        if usage is not None:
            self.state.usage = usage  # cumulative: the last chunk's figures are the answer's
        if chunk.get("request_id"):
            self._writer.begin(f"chatcmpl-{chunk['request_id']}")
        output = obj(chunk.get("output"))
        choices = output.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = obj(choices[0].get("message"))
            finish = choices[0].get("finish_reason")
        else:
            message, finish = {"content": output.get("text")}, output.get("finish_reason")
        out: list[bytes] = []
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and (reasoning := self._fresh("reasoning", reasoning)):
            out += self._writer.reasoning(reasoning)
        content = self._fresh("content", content_text(message.get("content")))
        if content:
            out += self._writer.content(content)
        fragments = message.get("tool_calls")
        for fragment in fragments if isinstance(fragments, list) else ():
            if isinstance(fragment, dict):
                out += self._writer.fragment(self._tool_part(fragment))
        reason = finish_reason(finish, bool(self._writer.calls))
        if reason is not None and not self._writer.finished:
            self.state.finished = True
            out.append(self._writer.finish(reason))
        return out

    def _tool_part(self, fragment: dict[str, Any]) -> dict[str, Any]:
        """A tool-call fragment with only the arguments not seen before (cumulative mode repeats them)."""
        function = fragment.get("function")
        if not self._cumulative or not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return fragment
        fresh = self._fresh(f"arguments{fragment.get('index', 0)}", function["arguments"])
        return {**fragment, "function": {**function, "arguments": fresh}}

    def end(self, usage: Usage | None) -> list[bytes]:
        return self._writer.close(usage)
