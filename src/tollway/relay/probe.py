"""One test chat request to one channel, through its type's real adaptor and the relay's transport, never billed.

Channel tests (One API's `/api/channel/test`) use it: the request is exactly what a client's chat call to
that model would send upstream (credential exchange, model mapping, system prompt, stream-only providers),
but no quota is held, nothing is settled and no consume log is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.errors import TollwayError, UpstreamError
from tollway.relay import assembly, calls, streaming
from tollway.relay.adaptors.base import Target, UpstreamRequest
from tollway.relay.calls import Call, Mode
from tollway.relay.pipeline import Relay
from tollway.relay.redaction import redact, secrets_of
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

log = logging.getLogger(__name__)

_MAX_FOLLOWS = 120  # polls of an asynchronous upstream task before the probe gives up


@dataclass
class ProbeResult:
    """What one test request found out."""

    success: bool
    message: str  # the model's reply, or why the test failed
    code: int  # HTTP status of the upstream's answer (0 when it could not be reached or read)
    took: float  # seconds
    model: str  # the model asked for
    actual_model: str  # the model the upstream was asked for, after the channel's mapping
    error: UpstreamError | None = None


async def probe(relay: Relay, channel: ChannelEntry, model: str, prompt: str, *, timeout: float) -> ProbeResult:
    """Send `prompt` to `model` on `channel` and judge the answer as One API does (a text reply is a pass)."""
    actual = channel.model_mapping.get(model, model)
    started = time.monotonic()
    error: UpstreamError | None = None
    code = 0
    sent: list[UpstreamRequest | str] = []  # what went upstream, so its credentials can be cut from the message
    try:
        async with asyncio.timeout(timeout):
            answer = await _ask(relay, channel, model, actual, prompt, sent)
        code = 200
        message = redact(_reply(answer), secrets_of(channel.key, *sent))
        return ProbeResult(True, message, code, time.monotonic() - started, model, actual)
    except UpstreamError as exc:
        error, code, message = exc, exc.status_code if exc.status_code < 600 else 0, exc.message
        if exc.code in ("upstream_unreachable", "upstream_timeout", "upstream_read_error"):
            code = 0
    except TimeoutError:
        message = f"no answer within {timeout:g} s"
    except TollwayError as exc:
        message = exc.message
    except ValueError as exc:
        code, message = 200, str(exc)
    except Exception as exc:  # a broken adaptor must fail the test, not the whole run
        log.exception("testing channel %s failed unexpectedly", channel.id)
        message = f"internal error while testing: {exc!r}"
    message = redact(message, secrets_of(channel.key, *sent))
    if error is not None:
        error.message = message
    return ProbeResult(False, message, code, time.monotonic() - started, model, actual, error)


def _call(model: str, prompt: str) -> Call:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    return calls.parse_json(Mode.CHAT, orjson.dumps(body))


async def _ask(relay: Relay, channel: ChannelEntry, model: str, actual: str, prompt: str,
               sent: list[UpstreamRequest | str]) -> Any:
    """The upstream's answer as OpenAI's whole chat completion (a stream is assembled)."""
    if not channel.key:
        raise UpstreamError("the channel's key cannot be opened (sealed with another ENCRYPTION_KEY?)",
                            status_code=500, code="channel_key_unreadable")
    kind = channel_types.get(channel.type)
    adaptor = relay.adaptors.for_type(kind)
    dialogue = relay.dialogue
    call, target, request = await dialogue.prepare(adaptor, _call(model, prompt), Target(channel, kind, actual), sent)
    try:
        outcome = await dialogue.conclude(adaptor, call, target, request, follows=_MAX_FOLLOWS, sent=sent)
    except UpstreamError as exc:
        if exc.status_code in (401, 403):
            dialogue.refused(adaptor, target)
        raise
    if outcome.source is not None:
        translator = adaptor.translator(call, target)
        events = await streaming.collect(outcome.source, translator, lambda: None)
        return assembly.completion_from_events(events + translator.close(translator.state.usage), call)
    assert outcome.answer is not None
    return orjson.loads(outcome.answer.content)


def _reply(answer: Any) -> str:
    """The text of the first choice, or ValueError saying what is missing (One API's parseTestResponse)."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the answer has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise ValueError("the answer's content is not text")
    return content
