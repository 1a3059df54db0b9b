"""The relay pipeline: pick a channel, hold quota, call the upstream, relay the answer, settle; retry on failure.

Every accepted call ends in exactly one settlement (with its log) or one refund, whether it succeeds,
fails, or the client goes away mid-stream. Upstream I/O goes through the `Dialogue` alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from tollway.billing import pricing, tokenizer
from tollway.billing.ledger import Hold, Ledger
from tollway.billing.pricing import Price
from tollway.billing.tokenizer import Counter
from tollway.errors import InsufficientQuota, NoChannel, PermissionDenied, RateLimited, TollwayError, UpstreamError
from tollway.limits.limiter import Ticket
from tollway.relay import assembly, streaming
from tollway.relay.adaptors import rerank
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.auth import Caller
from tollway.relay.calls import Call, Mode
from tollway.relay.dialogue import Dialogue
from tollway.relay.policy import Policy
from tollway.relay.redaction import redact, redact_error, secrets_of
from tollway.relay.reply import JSON, Reply
from tollway.relay.transport import Source
from tollway.relay.usage import Usage
from tollway.relay.usage_limits import bounded
from tollway.routing import channel_types
from tollway.storage import log_details
from tollway.storage.cache import Cache, ChannelEntry

if TYPE_CHECKING:
    from tollway.guards import Guards

log = logging.getLogger(__name__)

LOG_CONSUME = 2
LOG_ERROR = 6  # Tollway: a failed attempt (AI Proxy logs failed calls with their status code)
_FREE = Price(0.0, 0.0, 1.0)  # BILLING_ENABLED=false
_CONTENT_MAX = 1000  # characters of an error message kept in a log, as AI Proxy keeps 1 KB
_TEXT_MODES = frozenset((Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS, Mode.MODERATIONS, Mode.RERANK))
_LARGE_PROMPT = 256 * 1024  # bytes of body past which token counting leaves the event loop
_MAX_FOLLOWS = 600  # polls of an asynchronous task before giving up


@dataclass(eq=False, slots=True)
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
    upstream: UpstreamRequest | None = None
    first_byte: float = 0.0
    ticket: Ticket | None = None  # what the rate limits charged for the call
    retry: int = 0  # which try of the call this is (0: the first)

    def mark_first_byte(self) -> None:
        if not self.first_byte:
            self.first_byte = time.monotonic()


class Relay:
    """Relays OpenAI-format calls to channels; built once at startup."""

    def __init__(self, cache: Cache, ledger: Ledger, dialogue: Dialogue, adaptors: Adaptors,
                 policy: Policy | None = None) -> None:
        self.cache = cache
        self.ledger = ledger
        self.dialogue = dialogue
        self.adaptors = adaptors
        self.policy = policy or Policy()
        # Channel health, rate limits and metrics, set once they are built (tollway/guards.py).
        self.guards: Guards | None = None

    async def handle(self, call: Call, caller: Caller, request_id: str) -> Reply:
        """Serve one call, trying further channels after retryable failures while nothing was sent."""
        started = time.monotonic()
        guards = self.guards
        if guards is None:
            return await self._try(call, caller, request_id, started, None)
        try:
            # Token limits charge the prompt up front (counted only for a caller they apply to); `spent` adds
            # the completion once it is known.
            ticket = await guards.limits.admit(caller, lambda: self._count_now(call))
        except RateLimited as exc:
            guards.metrics.refused(exc.error_type)
            raise
        try:
            return await self._try(call, caller, request_id, started, ticket)
        except TollwayError as exc:
            guards.limits.spent(ticket, 0)
            guards.metrics.call_done(call.model, 0, exc.status_code, call.stream, time.monotonic() - started)
            raise

    async def _try(self, call: Call, caller: Caller, request_id: str, started: float, ticket: Ticket | None
                   ) -> Reply:
        policy = self.policy.retry_times
        retries = 0 if caller.pinned_channel is not None else (
            policy if policy >= 0 else self.cache.options.retry_times)
        tried: set[int] = set()
        failure: TollwayError | None = None
        for retry in range(retries + 1):
            channel = self._choose(call, caller, tried)
            if channel is None:
                break
            if tried and self.guards is not None:
                self.guards.metrics.retried()
            tried.add(channel.id)
            try:
                attempt = await self._begin(call, caller, channel, request_id, started)
            except UpstreamError as exc:
                failure = exc
                continue
            attempt.ticket, attempt.retry = ticket, retry
            try:
                return await self._send(attempt)
            except UpstreamError as exc:
                self._failed(attempt, exc)
                failure = exc
                if not exc.retryable:
                    break
            except BaseException:
                self.ledger.refund(attempt.hold)
                raise
        if failure is None and call.inbound is not None and call.inbound.refused is not None and not tried:
            # Channels serve this model, but none takes the client's API as it is, and chat cannot carry it.
            failure = call.inbound.refused
        if failure is not None:
            if failure.status_code == 429:
                failure.message = f"upstream channels for this group are saturated, retry later ({failure.message})"
            raise failure
        raise NoChannel(f"no available channel for model {call.model} in group {caller.user.group}")

    def _failed(self, attempt: Attempt, exc: UpstreamError) -> None:
        """An attempt failed: refund it, keep its secrets out of the message, and let channel health know."""
        redact_error(exc, attempt.target.channel.key, attempt.upstream, attempt.target.credential)
        self.ledger.refund(attempt.hold)
        if exc.status_code == 401:
            # A credential the provider no longer accepts (even one refused with HTTP 200, as
            # Baidu does) is obtained afresh by the next call instead of failing until it expires.
            self.dialogue.refused(attempt.adaptor, attempt.target)
        channel = attempt.target.channel
        if self.guards is not None:
            self.guards.health.failed(channel, attempt.call.model, exc)
        log.warning("request %s: channel %s (%s) failed: %s", attempt.request_id, channel.id, channel.name,
                    exc.message)
        if self.cache.options["LogConsumeEnabled"]:
            self.ledger.keeper.add_log(self._error_row(attempt, exc))

    def _error_row(self, attempt: Attempt, exc: UpstreamError) -> dict[str, object]:
        """The log of a failed attempt: its status, the (redacted) error, and the bodies as configured."""
        row = self._log_row(attempt, Usage(), code=exc.status_code, content=exc.message[:_CONTENT_MAX])
        row["type"] = LOG_ERROR
        limits = self.policy.bodies
        if limits is not None:
            row[log_details.DETAIL] = log_details.detail(
                attempt.call.raw, orjson.dumps(exc.openai_body(attempt.request_id)), limits)
        return row

    def _choose(self, call: Call, caller: Caller, tried: set[int]) -> ChannelEntry | None:
        if caller.pinned_channel is not None:
            if caller.pinned_channel in tried:
                return None
            channel = self.cache.channels.get(caller.pinned_channel)
            if channel is None:
                raise NoChannel(f"channel {caller.pinned_channel} does not exist")
            if caller.admin:
                # AI Proxy's Aiproxy-Channel: any channel, enabled or disabled, that lists the model.
                if call.model not in channel.models:
                    raise NoChannel(f"channel {channel.id} not found for model `{call.model}`")
                return channel
            if channel.status != 1:
                raise PermissionDenied(f"channel {channel.id} is disabled", code="channel_disabled")
            return channel
        group = caller.user.group
        if caller.admin and not self.cache.routes.serves(group, call.model):
            # The admin key reaches every group's channels, as AI Proxy's internal group reaches every set.
            group = next((g for g in self.cache.routes.groups() if self.cache.routes.serves(g, call.model)), group)
        health = self.guards.health if self.guards is not None else None
        channel = self.cache.routes.pick(group, call.model, tried, health)
        if call.inbound is not None and call.inbound.refused is not None:
            # Chat cannot carry this call: only channels that take the client's API natively can serve it.
            skipped: set[int] = set()
            while channel is not None and self._native(call, channel) is None:
                skipped.add(channel.id)
                channel = self.cache.routes.pick(group, call.model, tried | skipped, health)
        return channel

    def _native(self, call: Call, channel: ChannelEntry) -> Adaptor | None:
        """The adaptor passing an inbound call through to this channel as it is, if its type speaks the call's API."""
        assert call.inbound is not None
        kind = channel_types.get(channel.type)
        try:
            adaptor = self.adaptors.for_type(kind)
        except UpstreamError:
            return None
        return adaptor.native(call.inbound, Target(channel, kind, channel.model_mapping.get(call.model, call.model)))

    async def _begin(self, call: Call, caller: Caller, channel: ChannelEntry, request_id: str,
                     started: float) -> Attempt:
        kind = channel_types.get(channel.type)
        adaptor = self.adaptors.rerank(kind) if call.mode is Mode.RERANK else self.adaptors.for_type(kind)
        target = Target(channel, kind, channel.model_mapping.get(call.model, call.model))
        if call.inbound is not None:
            # A channel of the client's own API takes its request as it came; any other one its chat translation.
            native = adaptor.native(call.inbound, target)
            if native is None and call.inbound.refused is not None:
                raise call.inbound.refused  # a pinned channel that cannot take it
            adaptor = native or adaptor
        options = self.cache.options
        price = pricing.price_of(options, target.model, channel.type, caller.user.group) if self.policy.billing \
            else _FREE
        # The admin key is never refused for quota: root pays what the call costs while it has quota.
        hold = self.ledger.reserve(caller.token, caller.user, 0) if caller.admin else \
            self._reserve(call, caller, price, options.pre_consumed_quota)
        if hold is None:
            # The cheap bound did not fit what is left: hold on the exact count instead.
            call.prompt_tokens = await self._count_prompt(call)
            hold = self.ledger.reserve(caller.token, caller.user, _hold_amount(call, price, options.pre_consumed_quota))
        return Attempt(call, caller, target, adaptor, price, hold, request_id, started)

    def _reserve(self, call: Call, caller: Caller, price: Price, pre_consumed: int) -> Hold | None:
        """Hold on an upper bound of the prompt's tokens, or None when that bound is more than is left."""
        amount = _hold_amount(call, price, pre_consumed)
        try:
            return self.ledger.reserve(caller.token, caller.user, amount)
        except InsufficientQuota:
            if call.mode not in _TEXT_MODES or call.prompt_tokens is not None:
                raise
            return None

    async def _send(self, attempt: Attempt) -> Reply:
        dialogue = self.dialogue
        call, target, request = await dialogue.prepare(attempt.adaptor, attempt.call, attempt.target)
        attempt.call, attempt.target, attempt.upstream = call, target, request
        adaptor = attempt.adaptor
        outcome = await dialogue.conclude(adaptor, call, target, request, follows=_MAX_FOLLOWS,
                                          on_first_byte=attempt.mark_first_byte)
        if outcome.source is not None:
            translator = adaptor.translator(call, target)
            if call.stream:
                return await self._relay(attempt, outcome.source, translator)
            events = await streaming.collect(outcome.source, translator, attempt.mark_first_byte)
            usage = await self._settle(attempt, translator.state.usage, translator.text, None)
            whole = assembly.completion_from_events(events + translator.close(usage), call)
            whole["usage"] = usage.as_openai()  # what was billed, whether or not the stream carried it
            if call.inbound is not None:
                return call.inbound.answered(adaptor, orjson.dumps(whole), JSON, 200, usage, call, attempt.request_id)
            return Reply(200, JSON, orjson.dumps(whole))
        answer = outcome.answer
        assert answer is not None
        usage = await self._settle(attempt, answer.usage, lambda: answer.text, answer)
        if call.inbound is not None:
            return call.inbound.answered(adaptor, answer.content, answer.media_type, answer.status, usage, call,
                                         attempt.request_id)
        if answer.usage is None and call.mode in (Mode.CHAT, Mode.COMPLETIONS):
            # The provider reported no usage: the client sees the count it was billed for.
            answer.content = orjson.dumps({**orjson.loads(answer.content), "usage": usage.as_openai()})
        elif answer.usage is None and call.mode is Mode.RERANK:
            answer.content = rerank.with_input_tokens(answer.content, usage.prompt_tokens)
        if call.stream and call.mode in (Mode.CHAT, Mode.COMPLETIONS):
            return streaming.replay(assembly.events_from_completion(orjson.loads(answer.content), call))
        return Reply(answer.status, answer.media_type, answer.content)

    async def _relay(self, attempt: Attempt, source: Source, translator: StreamTranslator) -> Reply:
        fail = None
        if attempt.call.inbound is not None:
            translator, fail = attempt.call.inbound.relayed(translator, attempt.adaptor, attempt.call,
                                                            attempt.request_id)
        state = translator.state
        usage: list[Usage] = []

        async def settle() -> None:
            usage.append(await self._settle(attempt, state.usage, translator.text, None, whole=state.error is None,
                                            error=state.error))

        def broke(error: UpstreamError, frames: bytes) -> bytes:
            """A stream that failed after its first byte: channel health hears of it, the client gets no secret."""
            if self.guards is not None:
                self.guards.health.failed(attempt.target.channel, attempt.call.model, error)
            secrets = secrets_of(attempt.target.channel.key, attempt.upstream, attempt.target.credential)
            redact_error(error, attempt.target.channel.key, attempt.upstream, attempt.target.credential)
            return redact(frames.decode("utf-8", "replace"), secrets).encode()

        return await streaming.relay(
            source, translator, request_id=attempt.request_id, on_first_byte=attempt.mark_first_byte,
            settle=settle, tail=lambda: translator.close(usage[0] if usage else None), broke=broke, fail=fail,
        )

    async def _settle(self, attempt: Attempt, usage: Usage | None, text: Callable[[], str],
                      answer: Answer | None, *, whole: bool = True, error: UpstreamError | None = None) -> Usage:
        """Final usage and cost of a call that delivered something; charge it and queue its log.

        `text` gives the generated text, read only when the upstream reported no usage; `whole` is false for
        a stream that broke off (billed for what was delivered, but no success for channel health).
        """
        call = attempt.call
        usage = bounded(usage, call, attempt.upstream)
        if call.mode in _TEXT_MODES:
            if usage is None:
                counter = Counter(attempt.target.model, approximate=self.cache.options["ApproximateTokenEnabled"])
                usage = Usage(await self._prompt_tokens(call), counter.text(text()))
            elif usage.prompt_tokens == 0 and call.mode is not Mode.EMBEDDINGS:
                usage.prompt_tokens = await self._prompt_tokens(call)
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
                counter = Counter(attempt.target.model, approximate=self.cache.options["ApproximateTokenEnabled"])
                usage = Usage(counter.text(answer.transcript or "") if answer else 0, 0)
            cost = pricing.text_cost(attempt.price, usage.prompt_tokens, usage.completion_tokens)
        log_row = None
        if self.cache.options["LogConsumeEnabled"]:
            log_row = self._log_row(attempt, usage)
            if error is not None or self.policy.save_all_bodies:
                self._keep_bodies(log_row, attempt, answer, text, error)
        channel = attempt.target.channel
        charged = self.ledger.settle(attempt.hold, cost, channel, log_row)
        guards = self.guards
        if guards is not None:
            now = time.monotonic()
            first_byte = attempt.first_byte - attempt.started if attempt.first_byte else 0.0
            if whole:
                guards.health.succeeded(channel, call.model, first_byte * 1000)
            guards.limits.spent(attempt.ticket, usage.prompt_tokens + usage.completion_tokens)
            guards.metrics.call_done(call.model, channel.id, 200, call.stream, now - attempt.started, first_byte,
                                     usage.prompt_tokens, usage.completion_tokens, charged)
        return usage

    def _keep_bodies(self, row: dict[str, object], attempt: Attempt, answer: Answer | None, text: Callable[[], str],
                     error: UpstreamError | None) -> None:
        """Put the call's bodies in its log (a stream that broke off, or every call with SAVE_ALL_LOG_DETAIL)."""
        limits = self.policy.bodies
        if limits is None:
            return
        if error is not None:
            row["content"] = f"{row['content']}; the stream broke off: {error.message}"[:_CONTENT_MAX * 2]
            response: bytes | str = orjson.dumps(error.openai_body(attempt.request_id))
        else:
            # A stream's response is kept as the text it carried.
            response = answer.content if answer is not None else text()
        row[log_details.DETAIL] = log_details.detail(attempt.call.raw, response, limits)

    def _log_row(self, attempt: Attempt, usage: Usage, *, code: int = 200, content: str | None = None
                 ) -> dict[str, object]:
        now = time.monotonic()
        if content is None:
            content = attempt.price.describe()
            if attempt.target.model != attempt.call.model:
                content += f"; model mapped to {attempt.target.model}"
            if usage.clamped:
                content += f"; {usage.clamped}"
        row: dict[str, object] = {
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
            "code": code,
            "retry_times": attempt.retry,
            "ip": attempt.caller.ip,
            "endpoint": attempt.call.path,
            "cached_tokens": usage.cached_tokens,
        }
        if attempt.call.inbound is not None:
            row["inbound_api"] = attempt.call.inbound.api  # the API the client spoke (OpenAI's when absent)
        return row

    async def _prompt_tokens(self, call: Call) -> int:
        """The prompt's exact token count, counted once per call and only when the bill needs it."""
        if call.prompt_tokens is None:
            call.prompt_tokens = await self._count_prompt(call)
        return call.prompt_tokens

    def _count_now(self, call: Call) -> int:
        if call.prompt_tokens is None:
            call.prompt_tokens = self._counter(call).prompt(call.body) if call.mode in _TEXT_MODES else 0
        return call.prompt_tokens

    def _counter(self, call: Call) -> Counter:
        return Counter(call.model, approximate=self.cache.options["ApproximateTokenEnabled"])

    async def _count_prompt(self, call: Call) -> int:
        if call.mode not in _TEXT_MODES:
            return 0
        counter = Counter(call.model, approximate=self.cache.options["ApproximateTokenEnabled"])
        if len(call.raw) > _LARGE_PROMPT:
            return await asyncio.to_thread(counter.prompt, call.body)
        return counter.prompt(call.body)


def _hold_amount(call: Call, price: Price, pre_consumed: int) -> int:
    if call.mode in _TEXT_MODES:
        prompt = call.prompt_tokens if call.prompt_tokens is not None else tokenizer.prompt_bound(call.raw)
        return pricing.text_hold(price, pre_consumed, prompt, call.max_tokens)
    if call.mode is Mode.IMAGES:
        return pricing.image_cost(price, call.body)
    if call.mode is Mode.SPEECH:
        return pricing.speech_cost(price, str(call.body.get("input", "")))
    return pricing.audio_hold(price, pre_consumed)
