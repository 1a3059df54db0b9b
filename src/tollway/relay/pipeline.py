"""The relay pipeline: pick a channel, hold quota, call the upstream, relay the answer, settle; retry on failure.

This is the only place that talks to upstreams. Every accepted call ends in exactly one settlement
(with its log) or one refund, whether it succeeds, fails, or the client goes away mid-stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass

import httpx2
import orjson
from starlette.responses import Response

from tollway.billing import pricing
from tollway.billing.ledger import Hold, Ledger
from tollway.billing.pricing import Price
from tollway.billing.tokenizer import Counter
from tollway.errors import NoChannel, PermissionDenied, TollwayError, UpstreamError
from tollway.relay import assembly, streaming
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.auth import Caller
from tollway.relay.calls import Call, Mode
from tollway.relay.credentials import Credentials
from tollway.relay.images import inline_images
from tollway.relay.transport import Source, open_http, open_socket
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import Cache, ChannelEntry

log = logging.getLogger(__name__)

LOG_CONSUME = 2
_TEXT_MODES = (Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS, Mode.MODERATIONS)
_LARGE_PROMPT = 256 * 1024  # bytes of body past which token counting leaves the event loop
_MAX_FOLLOWS = 600  # polls of an asynchronous task before giving up


@dataclass
class Attempt:
    """One try on one channel, from the hold to the settlement."""

    call: Call
    caller: Caller
    target: Target
    adaptor: Adaptor
    price: Price
    hold: Hold
    request_id: str
    started: float
    prompt_tokens: int
    upstream: UpstreamRequest | None = None
    first_byte: float = 0.0

    def mark_first_byte(self) -> None:
        if not self.first_byte:
            self.first_byte = time.monotonic()


@dataclass(frozen=True)
class Clients:
    """The HTTP clients of the pipeline: one pool for upstreams, one for fetching users' images."""

    upstream: httpx2.AsyncClient
    user_content: httpx2.AsyncClient
    allow_private_content: bool = False
    socket_timeout: float | None = None


class Relay:
    """Relays OpenAI-format calls to channels; built once at startup."""

    def __init__(self, cache: Cache, ledger: Ledger, clients: Clients, adaptors: Adaptors) -> None:
        self.cache = cache
        self.ledger = ledger
        self.clients = clients
        self.adaptors = adaptors
        self.credentials = Credentials(clients.upstream)

    async def handle(self, call: Call, caller: Caller, request_id: str) -> Response:
        """Serve one call, trying further channels after retryable failures while nothing was sent."""
        started = time.monotonic()
        prompt_tokens = await self._prompt_tokens(call)
        retries = 0 if caller.pinned_channel is not None else self.cache.options.retry_times
        tried: set[int] = set()
        failure: TollwayError | None = None
        for _ in range(retries + 1):
            channel = self._choose(call, caller, tried)
            if channel is None:
                break
            tried.add(channel.id)
            try:
                attempt = self._begin(call, caller, channel, prompt_tokens, request_id, started)
            except UpstreamError as exc:
                failure = exc
                continue
            try:
                return await self._send(attempt)
            except UpstreamError as exc:
                self.ledger.refund(attempt.hold)
                if exc.status_code == 401:
                    # A credential the provider no longer accepts (even one refused with HTTP 200, as
                    # Baidu does) is obtained afresh by the next call instead of failing until it expires.
                    self._forget_credential(attempt)
                failure = exc
                log.warning("request %s: channel %s (%s) failed: %s", request_id, channel.id, channel.name,
                            exc.message)
                if not exc.retryable:
                    break
            except BaseException:
                self.ledger.refund(attempt.hold)
                raise
        if failure is not None:
            if failure.status_code == 429:
                failure.message = f"upstream channels for this group are saturated, retry later ({failure.message})"
            raise failure
        raise NoChannel(f"no available channel for model {call.model} in group {caller.user.group}")

    def _choose(self, call: Call, caller: Caller, tried: set[int]) -> ChannelEntry | None:
        if caller.pinned_channel is not None:
            if caller.pinned_channel in tried:
                return None
            channel = self.cache.channels.get(caller.pinned_channel)
            if channel is None:
                raise NoChannel(f"channel {caller.pinned_channel} does not exist")
            if channel.status != 1:
                raise PermissionDenied(f"channel {channel.id} is disabled", code="channel_disabled")
            return channel
        return self.cache.routes.pick(caller.user.group, call.model, tried)

    def _begin(self, call: Call, caller: Caller, channel: ChannelEntry, prompt_tokens: int, request_id: str,
               started: float) -> Attempt:
        kind = channel_types.get(channel.type)
        adaptor = self.adaptors.for_type(kind)
        target = Target(channel, kind, channel.model_mapping.get(call.model, call.model))
        options = self.cache.options
        price = pricing.price_of(options, target.model, channel.type, caller.user.group)
        hold = self.ledger.reserve(caller.token, caller.user, _hold_amount(call, price, prompt_tokens,
                                                                          options.pre_consumed_quota))
        return Attempt(call, caller, target, adaptor, price, hold, request_id, started, prompt_tokens)

    def _forget_credential(self, attempt: Attempt) -> None:
        exchange = attempt.adaptor.credential(attempt.target)
        if exchange is not None:
            self.credentials.forget(exchange.key)

    async def _prepare(self, attempt: Attempt) -> UpstreamRequest:
        """Inline images and obtain a credential where the adaptor needs them, then build the request."""
        adaptor, clients = attempt.adaptor, self.clients
        if adaptor.inline_images and attempt.call.mode is Mode.CHAT:
            attempt.call = await inline_images(attempt.call, clients.user_content,
                                               allow_private=clients.allow_private_content)
        exchange = adaptor.credential(attempt.target)
        if exchange is not None:
            attempt.target = dataclasses.replace(attempt.target, credential=await self.credentials.get(exchange))
        attempt.upstream = adaptor.request(attempt.call, attempt.target)
        return attempt.upstream

    async def _open(self, attempt: Attempt, request: UpstreamRequest) -> Source:
        if request.transport == "websocket":
            return await open_socket(request, attempt.adaptor, self.clients.socket_timeout)
        source = await open_http(self.clients.upstream, request)
        json_for_stream = request.stream and source.media_type.split(";")[0].strip() == "application/json"
        if source.status >= 400 or json_for_stream:
            # An error status, or a plain JSON body where a stream was expected (Baidu, Tencent): an error.
            body = await source.read()
            raise attempt.adaptor.error(source.status if source.status >= 400 else 502, body)
        return source

    async def _send(self, attempt: Attempt) -> Response:
        request = await self._prepare(attempt)
        call, adaptor = attempt.call, attempt.adaptor
        for _ in range(_MAX_FOLLOWS):
            source = await self._open(attempt, request)
            if request.stream:
                translator = adaptor.translator(call, attempt.target)
                if call.stream:
                    return await self._relay(attempt, source, translator)
                events = await streaming.collect(source, translator, attempt.mark_first_byte)
                usage = self._settle(attempt, translator.state.usage, "".join(translator.state.text), None)
                whole = assembly.completion_from_events(events + translator.close(usage), call)
                whole["usage"] = usage.as_openai()  # what was billed, whether or not the stream carried it
                return Response(orjson.dumps(whole), media_type="application/json",
                                headers={"X-Oneapi-Request-Id": attempt.request_id})
            attempt.mark_first_byte()
            body = await source.read()
            target = dataclasses.replace(attempt.target, note=request.note) if request.note else attempt.target
            answer = adaptor.answer(call, target, source.status, source.media_type, body)
            if answer.follow is not None:
                await asyncio.sleep(answer.wait)
                request = answer.follow
                continue
            usage = self._settle(attempt, answer.usage, answer.text, answer)
            if answer.usage is None and call.mode in (Mode.CHAT, Mode.COMPLETIONS):
                # The provider reported no usage: the client sees the count it was billed for.
                answer.content = orjson.dumps({**orjson.loads(answer.content), "usage": usage.as_openai()})
            if call.stream and call.mode in (Mode.CHAT, Mode.COMPLETIONS):
                return streaming.replay(assembly.events_from_completion(orjson.loads(answer.content), call),
                                        attempt.request_id)
            return Response(answer.content, status_code=answer.status, media_type=answer.media_type,
                            headers={"X-Oneapi-Request-Id": attempt.request_id})
        raise UpstreamError("upstream task did not finish in time", status_code=504, code="upstream_task_timeout")

    async def _relay(self, attempt: Attempt, source: Source, translator: StreamTranslator) -> Response:
        state = translator.state
        usage: list[Usage] = []

        def settle() -> None:
            usage.append(self._settle(attempt, state.usage, "".join(state.text), None))

        return await streaming.relay(
            source, translator, request_id=attempt.request_id, on_first_byte=attempt.mark_first_byte,
            settle=settle, tail=lambda: translator.close(usage[0] if usage else None),
        )

    def _settle(self, attempt: Attempt, usage: Usage | None, text: str, answer: Answer | None) -> Usage:
        """Final usage and cost of a successful call; charge it and queue its log."""
        call = attempt.call
        counter = Counter(attempt.target.model, approximate=self.cache.options["ApproximateTokenEnabled"])
        if call.mode in _TEXT_MODES:
            if usage is None:
                usage = Usage(attempt.prompt_tokens, counter.text(text) if text else 0)
            elif usage.prompt_tokens == 0 and call.mode is not Mode.EMBEDDINGS:
                usage.prompt_tokens = attempt.prompt_tokens
            cost = pricing.text_cost(attempt.price, usage.prompt_tokens, usage.completion_tokens)
        elif call.mode is Mode.IMAGES:
            usage = usage or Usage()
            cost = pricing.image_cost(attempt.price, call.body)
        elif call.mode is Mode.SPEECH:
            text_in = str(call.body.get("input", ""))
            usage = Usage(len(text_in), 0)
            cost = pricing.speech_cost(attempt.price, text_in)
        else:
            if usage is None:
                usage = Usage(counter.text(answer.transcript or "") if answer else 0, 0)
            cost = pricing.text_cost(attempt.price, usage.prompt_tokens, usage.completion_tokens)
        log_row = self._log_row(attempt, usage) if self.cache.options["LogConsumeEnabled"] else None
        self.ledger.settle(attempt.hold, cost, attempt.target.channel, log_row)
        return usage

    def _log_row(self, attempt: Attempt, usage: Usage) -> dict[str, object]:
        now = time.monotonic()
        content = attempt.price.describe()
        if attempt.target.model != attempt.call.model:
            content += f"; model mapped to {attempt.target.model}"
        return {
            "user_id": attempt.caller.user.id,
            "created_at": int(time.time()),
            "type": LOG_CONSUME,
            "content": content,
            "username": attempt.caller.user.username,
            "token_name": attempt.caller.token.name,
            "model_name": attempt.call.model,
            "upstream_model": attempt.target.model,
            "quota": 0,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "channel_id": attempt.target.channel.id,
            "request_id": attempt.request_id,
            "elapsed_time": int((now - attempt.started) * 1000),
            "is_stream": attempt.call.stream,
            "system_prompt_reset": bool(attempt.upstream and attempt.upstream.system_prompt_reset),
            "first_byte_time": int((attempt.first_byte - attempt.started) * 1000) if attempt.first_byte else 0,
        }

    async def _prompt_tokens(self, call: Call) -> int:
        if call.mode not in _TEXT_MODES:
            return 0
        counter = Counter(call.model, approximate=self.cache.options["ApproximateTokenEnabled"])
        if len(call.raw) > _LARGE_PROMPT:
            return await asyncio.to_thread(counter.prompt, call.body)
        return counter.prompt(call.body)


def _hold_amount(call: Call, price: Price, prompt_tokens: int, pre_consumed: int) -> int:
    if call.mode in _TEXT_MODES:
        return pricing.text_hold(price, pre_consumed, prompt_tokens, call.max_tokens)
    if call.mode is Mode.IMAGES:
        return pricing.image_cost(price, call.body)
    if call.mode is Mode.SPEECH:
        return pricing.speech_cost(price, str(call.body.get("input", "")))
    return pricing.audio_hold(price, pre_consumed)
