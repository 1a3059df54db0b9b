"""Credentials some providers hand out in exchange for the channel key, cached until shortly before expiry."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Exchange
from tollway.relay.transport import Transport


class Credentials:
    """One exchange per key at a time; every caller shares the result until it nears expiry."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._tokens: dict[str, tuple[str, float, float]] = {}  # key → (token, obtained at, expires at)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _fresh(self, key: str) -> str | None:
        found = self._tokens.get(key)
        if found is None:
            return None
        token, obtained, expires = found
        # Renew once 90% of the lifetime has passed (at most an hour early), as One API does for Baidu.
        margin = min(3600.0, (expires - obtained) * 0.1)
        return token if time.time() < expires - margin else None

    async def get(self, exchange: Exchange) -> str:
        """The credential for this exchange, from the cache or obtained now."""
        token = self._fresh(exchange.key)
        if token is not None:
            return token
        async with self._locks[exchange.key]:
            token = self._fresh(exchange.key)
            if token is not None:
                return token
            source = await self.transport.open(exchange.request)
            body = await source.read()
            token, lifetime = exchange.read(source.status, body)
            if not token:
                raise UpstreamError("credential exchange returned no token", status_code=502,
                                    code="credential_exchange_failed", retryable=True)
            now = time.time()
            self._tokens[exchange.key] = (token, now, now + max(lifetime, 1.0))
            return token

    def forget(self, key: str) -> None:
        """Drop a cached credential the upstream has refused."""
        self._tokens.pop(key, None)
