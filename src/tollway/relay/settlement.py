"""What a relay call holds before it is sent and what it is charged once it is answered, with its log.

Holds bound the prompt's tokens by the body's size (billing/tokenizer.prompt_bound) and count them only when
that bound does not fit what is left; the final charge takes the upstream's usage (clamped to what the call
could plausibly use) and counts locally only what the upstream did not report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from tollway.billing import call_log, pricing, tokenizer
from tollway.billing.call_log import CONTENT_MAX
from tollway.billing.ledger import Hold, Ledger
from tollway.billing.pricing import Price
from tollway.billing.tokenizer import Counter
from tollway.constants import LogType
from tollway.errors import InsufficientQuota, UpstreamError
from tollway.relay.adaptors.base import Answer
from tollway.relay.attempts import Attempt
from tollway.relay.auth import Caller
from tollway.relay.calls import Call, Mode
from tollway.relay.policy import Policy
from tollway.relay.usage import Usage
from tollway.relay.usage_limits import bounded
from tollway.storage import log_details
from tollway.storage.cache import Cache

if TYPE_CHECKING:
    from tollway.guards import Guards

TEXT_MODES = frozenset((Mode.CHAT, Mode.COMPLETIONS, Mode.EMBEDDINGS, Mode.MODERATIONS, Mode.RERANK))
_LARGE_PROMPT = 256 * 1024  # bytes of body past which token counting leaves the event loop


class Settlement:
    """Holds, charges and logs relay calls; built once at startup, beside the pipeline."""

    def __init__(self, cache: Cache, ledger: Ledger, policy: Policy) -> None:
        self.cache = cache
        self.ledger = ledger
        self.policy = policy
        self.guards: Guards | None = None

    # -- before the call ---------------------------------------------------------------------------------------

    async def hold(self, call: Call, caller: Caller, price: Price) -> Hold:
        """Set aside what the call may cost, or raise InsufficientQuota."""
        if caller.admin:
            # The admin key is never refused for quota: root pays what the call costs while it has quota.
            return self.ledger.hold_now(caller.token, caller.user, 0)
        pre_consumed = self.cache.options.pre_consumed_quota
        bound_only = call.mode in TEXT_MODES and call.prompt_tokens is None
        try:
            # A bound that may be refused waits for no other process's quota slices: the exact count will.
            return await self.ledger.hold(caller.token, caller.user, _hold_amount(call, price, pre_consumed),
                                          patient=not bound_only)
        except InsufficientQuota:
            if not bound_only:
                raise
        # The cheap bound did not fit what is left: hold on the exact count instead.
        call.prompt_tokens = await self._count_prompt(call)
        return await self.ledger.hold(caller.token, caller.user, _hold_amount(call, price, pre_consumed))

    def count_now(self, call: Call) -> int:
        """The prompt's exact token count, counted now (for token rate limits, which charge it up front)."""
        if call.prompt_tokens is None:
            call.prompt_tokens = self._counter(call.model).prompt(call.body) if call.mode in TEXT_MODES else 0
        return call.prompt_tokens

    # -- after it ----------------------------------------------------------------------------------------------

    async def settle(self, attempt: Attempt, usage: Usage | None, text: Callable[[], str],
                     answer: Answer | None, *, whole: bool = True, error: UpstreamError | None = None) -> Usage:
        """Final usage and cost of a call that delivered something; charge it and queue its log.

        `text` gives the generated text, read only when the upstream reported no usage; `whole` is false for
        a stream that broke off (billed for what was delivered, but no success for channel health).
        """
        call = attempt.call
        usage, cost = await self._cost(attempt, bounded(usage, call, attempt.upstream), text, answer)
        row = None
        if self.cache.options.flag("LogConsumeEnabled"):
            row = self._row(attempt, usage, LogType.CONSUME)
            if error is not None or self.policy.save_all_bodies:
                self._keep_bodies(row, attempt, answer, text, error)
        channel = attempt.target.channel
        await self.ledger.cover(attempt.hold, cost)
        charged = self.ledger.settle(attempt.hold, cost, channel, row)
        guards = self.guards
        if guards is not None:
            first_byte = attempt.first_byte_seconds
            if whole:
                guards.health.succeeded(channel, call.model, first_byte * 1000)
            guards.limits.spent(attempt.ticket, usage.prompt_tokens + usage.completion_tokens)
            guards.metrics.call_done(call.model, channel.id, 200, call.stream, time.monotonic() - attempt.started,
                                     first_byte, usage.prompt_tokens, usage.completion_tokens, charged)
        return usage

    def failed(self, attempt: Attempt, error: UpstreamError) -> None:
        """Give a failed attempt's hold back and log it: its status, its (redacted) error, its bodies as configured."""
        self.ledger.refund(attempt.hold)
        if not self.cache.options.flag("LogConsumeEnabled"):
            return
        row = self._row(attempt, Usage(), LogType.ERROR, code=error.status_code, content=error.message[:CONTENT_MAX])
        limits = self.policy.bodies
        if limits is not None:
            row[log_details.DETAIL] = log_details.detail(
                attempt.call.raw, orjson.dumps(error.openai_body(attempt.request_id)), limits)
        self.ledger.keeper.add_log(row)

    async def _cost(self, attempt: Attempt, usage: Usage | None, text: Callable[[], str],
                    answer: Answer | None) -> tuple[Usage, int]:
        call, price = attempt.call, attempt.price
        if call.mode in TEXT_MODES:
            if usage is None:
                usage = Usage(await self._prompt_tokens(call), self._counter(attempt.target.model).text(text()))
            elif usage.prompt_tokens == 0 and call.mode is not Mode.EMBEDDINGS:
                usage.prompt_tokens = await self._prompt_tokens(call)
            return usage, pricing.text_cost(price, usage.prompt_tokens, usage.completion_tokens)
        if call.mode is Mode.IMAGES:
            return usage or Usage(), pricing.image_cost(price, call.body)
        if call.mode is Mode.SPEECH:
            text_in = str(call.body.get("input", ""))
            return Usage(len(text_in), 0), pricing.speech_cost(price, text_in)
        if usage is None:
            usage = Usage(self._counter(attempt.target.model).text(answer.transcript or "") if answer else 0, 0)
        return usage, pricing.text_cost(price, usage.prompt_tokens, usage.completion_tokens)

    def _keep_bodies(self, row: dict[str, object], attempt: Attempt, answer: Answer | None, text: Callable[[], str],
                     error: UpstreamError | None) -> None:
        """Put the call's bodies in its log (a stream that broke off, or every call with SAVE_ALL_LOG_DETAIL)."""
        limits = self.policy.bodies
        if limits is None:
            return
        if error is not None:
            row["content"] = f"{row['content']}; the stream broke off: {error.message}"[:CONTENT_MAX * 2]
            response: bytes | str = orjson.dumps(error.openai_body(attempt.request_id))
        else:
            # A stream's response is kept as the text it carried.
            response = answer.content if answer is not None else text()
        row[log_details.DETAIL] = log_details.detail(attempt.call.raw, response, limits)

    def _row(self, attempt: Attempt, usage: Usage, kind: int, *, code: int = 200, content: str | None = None
             ) -> dict[str, object]:
        call, target, caller = attempt.call, attempt.target, attempt.caller
        if content is None:
            content = attempt.price.describe()
            if target.model != call.model:
                content += f"; model mapped to {target.model}"
            if usage.clamped:
                content += f"; {usage.clamped}"
        return call_log.call_row(
            kind=kind, content=content, user_id=caller.user.id, username=caller.user.username,
            token_name=caller.token.name, model=call.model, upstream_model=target.model, channel_id=target.channel.id,
            request_id=attempt.request_id, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens,
            elapsed_ms=int((time.monotonic() - attempt.started) * 1000),
            first_byte_ms=int(attempt.first_byte_seconds * 1000), stream=call.stream,
            system_prompt_reset=bool(attempt.upstream and attempt.upstream.system_prompt_reset), code=code,
            retry=attempt.retry, ip=caller.ip, endpoint=call.path,
            inbound_api=call.inbound.api if call.inbound is not None else None)

    # -- counting tokens, only where the bill needs it -----------------------------------------------------------

    async def _prompt_tokens(self, call: Call) -> int:
        """The prompt's exact token count, counted once per call."""
        if call.prompt_tokens is None:
            call.prompt_tokens = await self._count_prompt(call)
        return call.prompt_tokens

    def _counter(self, model: str) -> Counter:
        return Counter(model, approximate=self.cache.options.flag("ApproximateTokenEnabled"))

    async def _count_prompt(self, call: Call) -> int:
        if call.mode not in TEXT_MODES:
            return 0
        counter = self._counter(call.model)
        if len(call.raw) > _LARGE_PROMPT:
            return await asyncio.to_thread(counter.prompt, call.body)
        return counter.prompt(call.body)


def _hold_amount(call: Call, price: Price, pre_consumed: int) -> int:
    if call.mode in TEXT_MODES:
        prompt = call.prompt_tokens if call.prompt_tokens is not None else tokenizer.prompt_bound(call.raw)
        return pricing.text_hold(price, pre_consumed, prompt, call.max_tokens)
    if call.mode is Mode.IMAGES:
        return pricing.image_cost(price, call.body)
    if call.mode is Mode.SPEECH:
        return pricing.speech_cost(price, str(call.body.get("input", "")))
    return pricing.audio_hold(price, pre_consumed)
