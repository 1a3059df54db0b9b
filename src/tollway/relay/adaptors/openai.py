"""The OpenAI-format family: OpenAI, Azure and every provider that speaks OpenAI's API (table rows)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx2
import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.failures import body_error, load_json, not_served, upstream_error
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import error_frame, usage_frame
from tollway.relay.adaptors.passthrough import RESPONSES
from tollway.relay.adaptors.responses_native import ResponsesNative
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage, from_openai

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

AZURE = 3
# The types whose upstream serves OpenAI's Responses API: OpenAI's own and Azure OpenAI.
RESPONSES_TYPES = frozenset({1, AZURE})
_CLOUDFLARE_GATEWAY = "https://gateway.ai.cloudflare.com"
_TRANSCRIPTS = (Mode.TRANSCRIPTION, Mode.TRANSLATION)


def request_url(call: Call, target: Target) -> str:
    """Where a call goes on this channel: the type's path rules applied to its base URL."""
    kind = target.type
    base = (target.channel.base_url or kind.base_url).rstrip("/")
    path = call.path
    if kind.id == AZURE:
        version = str(target.channel.config.get("api_version") or "")
        if call.mode is Mode.IMAGES:
            return f"{base}/openai/deployments/{target.model}/images/generations?api-version={version}"
        deployment = target.model.replace(".", "")
        task = path.removeprefix("/v1/")
        if base.startswith(_CLOUDFLARE_GATEWAY):
            return f"{base}/{deployment}/{task}?api-version={version}"
        return f"{base}/openai/deployments/{deployment}/{task}?api-version={version}"
    if kind.only and path not in kind.only:
        raise not_served(kind.label, path)
    if path in kind.paths:
        return base + kind.paths[path]
    if kind.strip_v1 or (kind.id == 1 and base.startswith(_CLOUDFLARE_GATEWAY)):
        return base + path.removeprefix("/v1")
    return base + path


def multipart(call: Call, model: str) -> tuple[bytes, str]:
    """The upload re-encoded with another model name (when a channel maps the model)."""
    data = [(name, model if name == "model" else value) for name, value in call.fields]
    if not any(name == "model" for name, _ in data):
        data.append(("model", model))
    files = [(f.field, (f.filename, f.data, f.content_type)) for f in call.files]
    encoded = httpx2.Request("POST", "http://upstream", data=dict(data), files=files)
    return encoded.read(), encoded.headers["content-type"]


class OpenAIAdaptor(Adaptor):
    """Translator for upstreams that already speak OpenAI's format: it mostly leaves bytes alone."""

    def __init__(self, *, enforce_include_usage: bool = False) -> None:
        self.enforce_include_usage = enforce_include_usage
        self._responses = ResponsesNative(self)

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        channel, kind = target.channel, target.type
        headers = {"Content-Type": call.content_type}
        if kind.id == AZURE:
            headers["api-key"] = channel.key
        else:
            headers["Authorization"] = f"Bearer {channel.key}"
        headers.update(kind.headers)
        content = call.raw
        if call.files:
            if target.model != call.model:
                content, headers["Content-Type"] = multipart(call, target.model)
        else:
            changes: dict[str, Any] = {}
            if target.model != call.model:
                changes["model"] = target.model
            if call.stream:
                headers["Accept"] = "text/event-stream"
                if (kind.stream_usage or self.enforce_include_usage) and not call.asked_usage:
                    # Ask for usage so billing uses the provider's count; the client gets it as well.
                    options = call.body.get("stream_options") or {}
                    changes["stream_options"] = {**options, "include_usage": True}
            if changes:
                content = orjson.dumps({**call.body, **changes})
        return UpstreamRequest("POST", request_url(call, target), headers, content, stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        if call.mode is Mode.SPEECH:
            return Answer(status, body, media_type or "audio/mpeg")
        if call.mode in _TRANSCRIPTS and "json" not in media_type:
            return Answer(status, body, media_type or "text/plain", transcript=body.decode("utf-8", "replace"))
        data = load_json(body)
        if body_error(data) is not None:
            raise upstream_error(502 if status < 400 else status, body)
        usage = from_openai(data.get("usage")) if isinstance(data, dict) else None
        if call.mode in _TRANSCRIPTS:
            return Answer(status, body, media_type, usage=usage, transcript=str(data.get("text") or ""))
        # The text is only counted when the upstream reported no usage.
        text = _answer_text(data) if usage is None else ""
        return Answer(status, body, media_type or "application/json", usage=usage, text=text)

    def translator(self, call: Call, target: Target) -> OpenAIStream:
        return OpenAIStream(call)

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        return self._responses if inbound.api == RESPONSES and target.type.id in RESPONSES_TYPES else None


def _answer_text(data: Any) -> str:
    """The generated text of a whole answer: message contents, tool call arguments or completion texts."""
    parts: list[str] = []
    choices = data.get("choices") if isinstance(data, dict) else None
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict):
            _collect(message, parts)
        elif isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts)


def _collect(delta: dict[str, Any], parts: list[str]) -> None:
    for name in ("content", "reasoning_content"):
        value = delta.get(name)
        if isinstance(value, str):
            parts.append(value)
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for name in ("name", "arguments"):
                if isinstance(function.get(name), str):
                    parts.append(function[name])


class OpenAIStream(LineStream):
    """Re-emits an OpenAI-format stream event by event, reading usage on the way (and the text, if it is needed).

    Every event is parsed, since a provider's broken JSON must not reach the client's SDK. A chunk of whole
    `data: ...` events that all pass unchanged, the usual case, is relayed as it came, without the line
    splitter; the generated text is read from the kept choices only if the upstream reports no usage.
    """

    # Relay a chunk of several events as one piece (a wrapper that rewrites events one by one turns it off).
    whole_chunks = True

    def __init__(self, call: Call) -> None:
        super().__init__()
        self.call = call
        self._id = ""
        self._model = call.model
        self._created = 0
        self._started = False  # something went to the client
        self._choices: list[list[Any]] = []

    def feed(self, data: bytes) -> list[bytes]:
        if data[:6] == b"data: " and data[-2:] == b"\n\n" and not self._lines.pending:
            payload = data[6:-2]
            if b"\n" not in payload and b"\r" not in payload:  # one whole event: the usual chunk
                verdict = self.inspect(payload)
                return [data] if verdict is None else verdict
            payloads = payload.split(b"\n\ndata: ")
            if data.count(b"\n") == 2 * len(payloads) and b"\r" not in data:
                verdicts = [self.inspect(payload) for payload in payloads]
                if verdicts.count(None) == len(verdicts) and self.whole_chunks:
                    return [data]
                out: list[bytes] = []
                for payload, verdict in zip(payloads, verdicts, strict=True):
                    out += [b"data: " + payload + b"\n\n"] if verdict is None else verdict
                return out
        return super().feed(data)

    def line(self, line: bytes) -> list[bytes]:
        payload = sse.data_of(line)
        if payload is None:
            return []  # blank lines, comments, event: and id: lines
        verdict = self.inspect(payload)
        return [b"data: " + payload + b"\n\n"] if verdict is None else verdict

    def inspect(self, payload: bytes) -> list[bytes] | None:
        """Read one `data:` payload: None to relay it as it came, or what to send instead (maybe nothing)."""
        if payload[:1] != b"{":
            payload = payload.strip()
            if payload == b"[DONE]":
                self.state.finished = True
                return []
            if not payload:
                return []
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return self._broken(payload)
        if chunk.__class__ is not dict:
            return []  # a bare value carries nothing a client could use
        if "error" in chunk and body_error(chunk) is not None:
            # Before any output this is a failure another channel may make good; after, the client hears it.
            self.state.error = upstream_error(500, payload)
            return None if self._started else []
        choices = chunk.get("choices")
        if choices.__class__ is not list or not choices:
            # Azure's preamble and content-filter chunks carry neither choices nor usage.
            if self._usage(chunk.get("usage")):
                self._started = True
                return None
            return []
        if "usage" in chunk:
            self._usage(chunk["usage"])
        if not self._started:
            self._head(chunk)
        elif choices[0].__class__ is dict and "usage" in choices[0]:
            self._usage(choices[0]["usage"])  # Moonshot puts it inside the choice
        self._choices.append(choices)
        return None

    def text(self) -> str:
        """The generated text so far: message contents, reasoning, tool call names and arguments, completion text."""
        parts: list[str] = []
        for choices in self._choices:
            for choice in choices:
                if choice.__class__ is not dict:
                    continue
                delta = choice.get("delta")
                if delta.__class__ is dict:
                    _collect(delta, parts)
                elif isinstance(choice.get("text"), str):
                    parts.append(choice["text"])
        return "".join(parts)

    def _usage(self, data: Any) -> bool:
        """Keep a usage object the upstream sent; whether there was one."""
        usage = from_openai(data) if data else None
        if usage is not None:
            self.state.usage = usage
        return usage is not None

    def _head(self, chunk: dict[str, Any]) -> None:
        """The answer's id, model and time, for a usage chunk Tollway may have to add (odd types tolerated)."""
        self._started = True
        answer_id, model, created = chunk.get("id"), chunk.get("model"), chunk.get("created")
        self._id = answer_id if isinstance(answer_id, str) else str(answer_id or "")
        self._model = model if isinstance(model, str) and model else self._model
        self._created = created if isinstance(created, int) and not isinstance(created, bool) else 0
        choices = chunk["choices"]
        if choices[0].__class__ is dict and "usage" in choices[0]:
            self._usage(choices[0]["usage"])

    def _broken(self, payload: bytes) -> list[bytes]:
        """An event that is not JSON: before any output another channel may answer; after, the stream ends."""
        error = UpstreamError(f"upstream sent a stream event that is not JSON: {payload[:100]!r}", status_code=502,
                              code="bad_upstream_response", retryable=True)
        self.state.error = error
        return [error_frame(error)] if self._started else []

    def end(self, usage: Usage | None) -> list[bytes]:
        out: list[bytes] = []
        if usage is not None and self.state.usage is None and self.call.wants_usage:
            # The upstream sent no usage; the client asked for it, so send the locally counted one.
            kind = "chat.completion.chunk" if self.call.mode is Mode.CHAT else "text_completion"
            out.append(usage_frame(self._id, kind, self._created or int(time.time()), self._model, usage))
        out.append(sse.DONE)
        return out
