"""Cloudflare Workers AI: its OpenAI-compatible chat and embeddings endpoints, completions through `/run/{model}`.

The account id comes from the channel config (`user_id`). A base URL on Cloudflare's AI Gateway
(`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/workers-ai`) already names the account.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.failures import (
    bad_answer,
    json_of,
    misconfigured,
    provider_error,
    unsupported,
    upstream_error,
)
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai import OpenAIAdaptor, OpenAIStream
from tollway.relay.adaptors.openai_out import ChunkWriter, error_frame, text_answer
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage, from_openai

_GATEWAY = "https://gateway.ai.cloudflare.com"
_OPENAI_PATHS = {Mode.CHAT: "/v1/chat/completions", Mode.EMBEDDINGS: "/v1/embeddings"}
# Fields of a completions call that Workers AI's text-generation task (`/run`) understands.
_RUN_FIELDS = ("max_tokens", "temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty",
               "repetition_penalty")
# Workers AI error codes whose HTTP status says less than the code does (developers.cloudflare.com/workers-ai).
_CODES: dict[int, tuple[int, str]] = {
    10000: (401, "authentication_error"),  # "Authentication error": bad or under-scoped API token
    3036: (429, "rate_limit_error"),  # daily free allocation used up
    3040: (429, "rate_limit_error"),  # out of capacity
    5007: (404, "not_found_error"),  # no such model: another channel may serve it
    3042: (404, "not_found_error"),  # invalid model id
    5018: (403, "permission_error"),
    3041: (403, "permission_error"),
    3023: (403, "permission_error"),  # account blocked
}


def is_gateway(base: str) -> bool:
    """A Workers AI route on Cloudflare's AI Gateway (the account and gateway are in the base URL)."""
    return base.startswith(_GATEWAY) and base.endswith("/workers-ai")


def request_url(call: Call, target: Target) -> str:
    """Where a call goes: the account's `/ai` prefix (or the gateway route), then the task's path."""
    base = (target.channel.base_url or target.type.base_url).rstrip("/")
    gateway = is_gateway(base)
    if gateway:
        prefix = base
    else:
        account = str(target.channel.config.get("user_id") or "").strip()
        if not account:
            raise misconfigured(f"Cloudflare channel {target.channel.id} has no account id (config user_id)")
        prefix = f"{base}/client/v4/accounts/{account}/ai"
    if call.mode in _OPENAI_PATHS:
        return prefix + _OPENAI_PATHS[call.mode]
    return f"{prefix}/{target.model}" if gateway else f"{prefix}/run/{target.model}"


class CloudflareAdaptor(Adaptor):
    """OpenAI's format on Workers AI's compatible endpoints; completions translated to the `/run` task."""

    def __init__(self, *, enforce_include_usage: bool = False) -> None:
        # Chat and embeddings are OpenAI's wire format: the OpenAI adaptor builds and reads them.
        self.openai = OpenAIAdaptor(enforce_include_usage=enforce_include_usage)

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode not in (Mode.CHAT, Mode.EMBEDDINGS, Mode.COMPLETIONS):
            raise unsupported(f"Cloudflare channels serve chat, completions and embeddings, not {call.path}")
        url = request_url(call, target)
        if call.mode is Mode.COMPLETIONS:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.channel.key}"}
            if call.stream:
                headers["Accept"] = "text/event-stream"
            return UpstreamRequest("POST", url, headers, orjson.dumps(run_body(call)), stream=call.stream)
        upstream = self.openai.request(call, target)
        upstream.url = url
        return upstream

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_of(body)
        if isinstance(data, dict) and (data.get("success") is False or _errors(data)):
            raise self.error(status if status >= 400 else 500, body)
        if call.mode is not Mode.COMPLETIONS:
            return self.openai.answer(call, target, status, media_type, body)
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, dict):
            raise bad_answer("Workers AI returned no result")
        text = str(result.get("response") or "")
        usage = from_openai(result.get("usage"))
        return Answer(status, text_answer(call, target.model, text, usage), "application/json", usage=usage, text=text)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        if call.mode is Mode.COMPLETIONS:
            return RunStream(call, target.model)
        return CloudflareStream(call)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return cloudflare_error(status, body)


def cloudflare_error(status: int, body: bytes) -> UpstreamError:
    """Cloudflare's `{"errors":[{"code","message"}],"success":false}` with a status fitting its code."""
    data = json_of(body)
    found = _errors(data) if isinstance(data, dict) else []
    if not found:
        return upstream_error(status, body)
    code = found[0].get("code")
    status = status if status >= 400 else 500
    error_type = "upstream_error"
    if isinstance(code, int) and code in _CODES:
        status, error_type = _CODES[code]
    message = "; ".join(str(item.get("message") or "") for item in found).strip("; ") or f"Workers AI error {code}"
    return provider_error(message, status, f"cloudflare_{code}" if code is not None else f"upstream_{status}",
                          kind=error_type)


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The `errors` list of Cloudflare's API envelope (the AI Gateway calls it `error`)."""
    for name in ("errors", "error"):
        value = data.get(name)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def run_body(call: Call) -> dict[str, Any]:
    """The text-generation task body of an OpenAI completions call."""
    prompt = call.body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = "".join(part for part in prompt if isinstance(part, str))
    body: dict[str, Any] = {"prompt": prompt, "stream": call.stream}
    body.update({name: call.body[name] for name in _RUN_FIELDS if call.body.get(name) is not None})
    return body


class CloudflareStream(OpenAIStream):
    """OpenAI's stream, plus Cloudflare's own error envelope arriving as an event."""

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self._emitted = False

    def inspect(self, payload: bytes) -> list[bytes] | None:
        if b'"error' in payload:
            data = json_of(payload)
            if isinstance(data, dict) and _errors(data):
                self.state.error = cloudflare_error(500, payload)
                # Before any output the pipeline may still retry elsewhere; after, the client hears it in-band.
                return [error_frame(self.state.error)] if self._emitted else []
        verdict = super().inspect(payload)
        self._emitted = self._emitted or verdict is None or bool(verdict)
        return verdict


class RunStream(LineStream):
    """`data: {"response": "..."}` events of the `/run` task become text completion chunks."""

    def __init__(self, call: Call, model: str) -> None:
        super().__init__()
        self.writer = ChunkWriter(call, model, self.state)

    def line(self, line: bytes) -> list[bytes]:
        if self.state.error is not None:
            return []
        if (sse.data_of(line) or b"").strip() == b"[DONE]":
            return [self.writer.finish("stop")]
        data = data_object(line)
        if data is None:
            return []
        if _errors(data):
            return self.writer.error(cloudflare_error(500, sse.data_of(line) or b""))
        usage = from_openai(data.get("usage"))
        if usage is not None:
            self.state.usage = usage
        text = data.get("response")
        return self.writer.content(text) if isinstance(text, str) and text else []

    def end(self, usage: Usage | None) -> list[bytes]:
        return self.writer.end(usage, finish_empty=True)
