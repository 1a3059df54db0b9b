"""Putting one call to one channel: the upstream request built, sent, its polls followed, its answer read.

The relay pipeline and the channel tests both talk to providers through a `Dialogue`, so a request a
channel test sends is exactly the one a client's call would send.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.calls import Call, Mode, with_system_prompt
from tollway.relay.credentials import Credentials
from tollway.relay.image_fetcher import ImageFetcher
from tollway.relay.images import inline_images
from tollway.relay.transport import HandshakeRefused, Source, Transport


def _nothing() -> None:
    return None


@dataclass(slots=True)
class Outcome:
    """Where a call ended up: a whole answer, or a stream opened for reading (and the request that opened it)."""

    request: UpstreamRequest
    answer: Answer | None = None
    source: Source | None = None


class Dialogue:
    """The only code that sends requests to providers; built once at startup."""

    def __init__(self, transport: Transport, images: ImageFetcher) -> None:
        self.transport = transport
        self.credentials = Credentials(transport)
        self.images = images

    async def prepare(self, adaptor: Adaptor, call: Call, target: Target,
                      sent: list[UpstreamRequest | str] | None = None) -> tuple[Call, Target, UpstreamRequest]:
        """Inline images and obtain a credential where the adaptor needs them, then build the request.

        `sent` collects every request and credential sent, for cutting them out of messages (relay/redaction.py).
        """
        if adaptor.inline_images and call.mode is Mode.CHAT:
            call = await inline_images(call, self.images)
        # The channel's system prompt, applied here once for every adaptor that translates a chat call.
        prompted = call.mode is Mode.CHAT and bool(target.channel.system_prompt)
        if prompted:
            call = with_system_prompt(call, target.channel.system_prompt)
        exchange = adaptor.credential(target)
        if exchange is not None:
            if sent is not None:
                sent.append(exchange.request)
            target = dataclasses.replace(target, credential=await self.credentials.get(exchange))
            if sent is not None:
                sent.append(target.credential)
        request = adaptor.request(call, target)
        request.system_prompt_reset = prompted
        if sent is not None:
            sent.append(request)
        return call, target, request

    async def open(self, adaptor: Adaptor, request: UpstreamRequest) -> Source:
        """Send the request; an error status (or JSON where a stream was due) becomes the adaptor's error."""
        try:
            source = await self.transport.open(request)
        except HandshakeRefused as exc:
            raise adaptor.error(exc.status, exc.body) from None
        status = source.status
        if status >= 400 or (request.stream and source.media_type.startswith("application/json")):
            # An error status, or a plain JSON body where a stream was expected (Baidu, Tencent): an error.
            body = await source.read()
            raise adaptor.error(status if status >= 400 else 502, body)
        return source

    async def conclude(self, adaptor: Adaptor, call: Call, target: Target, request: UpstreamRequest, *,
                       follows: int, on_first_byte: Callable[[], None] = _nothing,
                       sent: list[UpstreamRequest | str] | None = None) -> Outcome:
        """Send the request and follow an asynchronous task's polls until a whole answer or a stream is there."""
        for _ in range(follows):
            source = await self.open(adaptor, request)
            if request.stream:
                return Outcome(request, source=source)
            on_first_byte()
            body = await source.read()
            noted = dataclasses.replace(target, note=request.note) if request.note else target
            answer = adaptor.answer(call, noted, source.status, source.media_type, body)
            if answer.follow is None:
                return Outcome(request, answer=answer)
            await asyncio.sleep(answer.wait)
            request = answer.follow
            if sent is not None:
                sent.append(request)
        raise UpstreamError("upstream task did not finish in time", status_code=504, code="upstream_task_timeout")

    def refused(self, adaptor: Adaptor, target: Target) -> None:
        """The provider refused the credential: the next call obtains a fresh one instead of failing until expiry."""
        exchange = adaptor.credential(target)
        if exchange is not None:
            self.credentials.forget(exchange.key)

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.images.aclose()
