"""The relay pipeline: pick a channel, hold quota, call the upstream, relay the answer, settle; retry on failure.

Every accepted call ends in exactly one settlement (with its log) or one refund, whether it succeeds,
fails, or the client goes away mid-stream. Upstream I/O goes through the `Dialogue` alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from tollway.billing import pricing
from tollway.billing.ledger import Ledger
from tollway.billing.pricing import Price
from tollway.errors import NoChannel, PermissionDenied, RateLimited, TollwayError, UpstreamError
from tollway.limits.limiter import Ticket
from tollway.relay import assembly, streaming
from tollway.relay.adaptors import rerank
from tollway.relay.adaptors.base import Adaptor, StreamTranslator, Target
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.attempts import Attempt
from tollway.relay.auth import Caller
from tollway.relay.calls import Call, Mode
from tollway.relay.dialogue import Dialogue
from tollway.relay.policy import Policy
from tollway.relay.redaction import redact, redact_error, secrets_of
from tollway.relay.reply import JSON, Reply
from tollway.relay.settlement import Settlement
from tollway.relay.transport import Source
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.routing.current import CurrentRoutes
from tollway.storage.cache import Cache, ChannelEntry

if TYPE_CHECKING:
    from tollway.guards import Guards

log = logging.getLogger(__name__)

_FREE = Price(0.0, 0.0, 1.0)  # BILLING_ENABLED=false
_MAX_FOLLOWS = 600  # polls of an asynchronous task before giving up


class Relay:
    """Relays OpenAI-format calls to channels; built once at startup."""

    def __init__(self, cache: Cache, routes: CurrentRoutes, ledger: Ledger, dialogue: Dialogue, adaptors: Adaptors,
                 policy: Policy | None = None) -> None:
        self.cache = cache
        self.routes = routes
        self.ledger = ledger
        self.dialogue = dialogue
        self.adaptors = adaptors
        self.policy = policy or Policy()
        self.settlement = Settlement(cache, ledger, self.policy)
        self._guards: Guards | None = None

    @property
    def guards(self) -> Guards | None:
        """Channel health, rate limits and metrics, set once they are built (tollway/guards.py)."""
        return self._guards

    @guards.setter
    def guards(self, guards: Guards | None) -> None:
        self._guards = self.settlement.guards = guards
        # Reads other processes' latest changes now; answers whether there were any (operations/changes.py).
        self.catch_up: Callable[[], Awaitable[bool]] | None = None

    async def handle(self, call: Call, caller: Caller, request_id: str) -> Reply:
        """Serve one call, trying further channels after retryable failures while nothing was sent."""
        started = time.monotonic()
        guards = self.guards
        if guards is None:
            return await self._try(call, caller, request_id, started, None)
        try:
            # Token limits charge the prompt up front (counted only for a caller they apply to); `spent` adds
            # the completion once it is known.
            ticket = await guards.limits.admit(caller, lambda: self.settlement.count_now(call))
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
            if channel is None and not tried and self.catch_up is not None and await self.catch_up():
                channel = self._choose(call, caller, tried)  # a channel another process added a moment ago
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
        """An attempt failed: keep its secrets out of the message, refund and log it, and let channel health know."""
        redact_error(exc, attempt.target.channel.key, attempt.upstream, attempt.target.credential)
        self.settlement.failed(attempt, exc)
        if exc.status_code == 401:
            # A credential the provider no longer accepts (even one refused with HTTP 200, as
            # Baidu does) is obtained afresh by the next call instead of failing until it expires.
            self.dialogue.refused(attempt.adaptor, attempt.target)
        channel = attempt.target.channel
        if self.guards is not None:
            self.guards.health.failed(channel, attempt.call.model, exc)
        log.warning("request %s: channel %s (%s) failed: %s", attempt.request_id, channel.id, channel.name,
                    exc.message)

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
        routes = self.routes.table
        if caller.admin and not routes.serves(group, call.model):
            # The admin key reaches every group's channels, as AI Proxy's internal group reaches every set.
            group = next((g for g in routes.groups() if routes.serves(g, call.model)), group)
        health = self.guards.health if self.guards is not None else None
        channel = routes.pick(group, call.model, tried, health)
        if call.inbound is not None and call.inbound.refused is not None:
            # Chat cannot carry this call: only channels that take the client's API natively can serve it.
            skipped: set[int] = set()
            while channel is not None and self._native(call, channel) is None:
                skipped.add(channel.id)
                channel = routes.pick(group, call.model, tried | skipped, health)
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
        price = pricing.price_of(self.cache.options, target.model, channel.type, caller.user.group) \
            if self.policy.billing else _FREE
        hold = await self.settlement.hold(call, caller, price)
        return Attempt(call, caller, target, adaptor, price, hold, request_id, started)

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
            usage = await self.settlement.settle(attempt, translator.state.usage, translator.text, None)
            whole = assembly.completion_from_events(events + translator.close(usage), call)
            whole["usage"] = usage.as_openai()  # what was billed, whether or not the stream carried it
            if call.inbound is not None:
                return call.inbound.answered(adaptor, orjson.dumps(whole), JSON, 200, usage, call, attempt.request_id)
            return Reply(200, JSON, orjson.dumps(whole))
        answer = outcome.answer
        assert answer is not None
        usage = await self.settlement.settle(attempt, answer.usage, lambda: answer.text, answer)
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
            usage.append(await self.settlement.settle(attempt, state.usage, translator.text, None,
                                                      whole=state.error is None, error=state.error))

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
