"""Upstream balances for the channel types One API can query (controller/channel-billing.go), one or all channels.

Each provider answers in its own shape; the balance is stored as the provider states it (USD, or CNY for
DeepSeek and SiliconFlow) in `channels.balance` with `balance_updated_time`. OpenAI (1), Custom (8) and
CloseAI (4) are asked at the channel's base URL as in One API; the others at the provider's fixed address,
which a channel can override with `"balance_url"` in its config (a mirror, or a test server).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from tollway.constants import ChannelStatus
from tollway.errors import UpstreamError
from tollway.operations.notices import Notices
from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.redaction import redact, secrets_of
from tollway.relay.transport import Transport
from tollway.routing import channel_types
from tollway.settings import Settings
from tollway.storage import writes
from tollway.storage.cache import ChannelEntry
from tollway.storage.keeper import Keeper

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0  # seconds for each request to a provider
CONCURRENCY = 8  # channels queried at once when updating all (one at a time when POLLING_INTERVAL is set)


class BalanceError(Exception):
    """The provider's balance could not be read; the message says why."""


# GET a URL with headers and answer its JSON, or BalanceError (the pooled upstream client does the work).
Get = Callable[[str, dict[str, str]], Awaitable[Any]]
Fetcher = Callable[[Get, ChannelEntry], Awaitable[float]]


def _number(value: Any, what: str) -> float:
    """A float from a JSON number or numeric string (providers use both)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BalanceError(f"the provider's answer has no usable {what}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise BalanceError(f"the provider's answer has no usable {what}")
    return number


def _field(data: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _bearer(channel: ChannelEntry) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.key}"}


def _fixed(channel: ChannelEntry, default: str) -> str:
    return str(channel.config.get("balance_url") or default).rstrip("/")


def _base(channel: ChannelEntry) -> str:
    return (channel.base_url or channel_types.get(channel.type).base_url).rstrip("/")


async def _openai(get: Get, channel: ChannelEntry) -> float:
    """Hard limit of the subscription less this period's usage (cents), as OpenAI's old dashboard API reports."""
    base = _base(channel)
    if not base:
        raise BalanceError("the channel has no base URL")
    subscription = await get(f"{base}/v1/dashboard/billing/subscription", _bearer(channel))
    today = datetime.date.today()
    start = today.replace(day=1) if _field(subscription, "has_payment_method") else today - datetime.timedelta(100)
    usage = await get(f"{base}/v1/dashboard/billing/usage?start_date={start}&end_date={today}",
                       _bearer(channel))
    limit = _number(_field(subscription, "hard_limit_usd"), "hard_limit_usd")
    return limit - _number(_field(usage, "total_usage") or 0, "total_usage") / 100


def _credit_grants(field_name: str, default: str | None) -> Fetcher:
    """The `/dashboard/billing/credit_grants` shape of CloseAI, API2GPT and AIGC2D."""

    async def fetch(get: Get, channel: ChannelEntry) -> float:
        base = _fixed(channel, default) if default else _base(channel)
        data = await get(f"{base}/dashboard/billing/credit_grants", _bearer(channel))
        return _number(_field(data, field_name), field_name)

    return fetch


async def _openai_sb(get: Get, channel: ChannelEntry) -> float:
    base = _fixed(channel, "https://api.openai-sb.com")
    data = await get(f"{base}/sb-api/user/status?api_key={channel.key}", _bearer(channel))
    if not isinstance(_field(data, "data"), dict):
        raise BalanceError(str(_field(data, "msg") or "the provider's answer has no data"))
    return _number(_field(data, "data", "credit"), "credit")


async def _aiproxy(get: Get, channel: ChannelEntry) -> float:
    base = _fixed(channel, "https://aiproxy.io")
    data = await get(f"{base}/api/report/getUserOverview", {"Api-Key": channel.key})
    if not _field(data, "success"):
        raise BalanceError(f"code: {_field(data, 'error_code')}, message: {_field(data, 'message')}")
    return _number(_field(data, "data", "totalPoints"), "totalPoints")


async def _siliconflow(get: Get, channel: ChannelEntry) -> float:
    base = _fixed(channel, "https://api.siliconflow.cn")
    data = await get(f"{base}/v1/user/info", _bearer(channel))
    if _field(data, "code") != 20000:
        raise BalanceError(f"code: {_field(data, 'code')}, message: {_field(data, 'message')}")
    return _number(_field(data, "data", "totalBalance"), "totalBalance")


async def _deepseek(get: Get, channel: ChannelEntry) -> float:
    base = _fixed(channel, "https://api.deepseek.com")
    data = await get(f"{base}/user/balance", _bearer(channel))
    infos = _field(data, "balance_infos")
    for info in infos if isinstance(infos, list) else []:
        if isinstance(info, dict) and info.get("currency") == "CNY":
            return _number(info.get("total_balance"), "total_balance")
    raise BalanceError("currency CNY not found")


async def _openrouter(get: Get, channel: ChannelEntry) -> float:
    base = _fixed(channel, "https://openrouter.ai/api")
    data = await get(f"{base}/v1/credits", _bearer(channel))
    credits_ = _number(_field(data, "data", "total_credits"), "total_credits")
    return credits_ - _number(_field(data, "data", "total_usage") or 0, "total_usage")


FETCHERS: dict[int, Fetcher] = {
    1: _openai,
    8: _openai,
    4: _credit_grants("total_available", None),
    5: _openai_sb,
    10: _aiproxy,
    12: _credit_grants("total_remaining", "https://api.api2gpt.com"),
    13: _credit_grants("total_available", "https://api.aigc2d.com"),
    44: _siliconflow,
    36: _deepseek,
    20: _openrouter,
}


class BalanceUpdater:
    """Queries and stores channel balances."""

    def __init__(self, settings: Settings, keeper: Keeper, transport: Transport, notices: Notices) -> None:
        self.settings = settings
        self.keeper = keeper
        self.cache = keeper.cache
        self.transport = transport
        self.notices = notices

    async def _get(self, url: str, headers: dict[str, str]) -> Any:
        request = UpstreamRequest("GET", url, headers, timeout=REQUEST_TIMEOUT)
        try:
            source = await self.transport.open(request)
            body = await source.read()
        except UpstreamError as exc:
            raise BalanceError(f"cannot reach {urlsplit(url).hostname}: {exc.message}") from exc
        if source.status != 200:
            raise BalanceError(f"the provider answered status {source.status}")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BalanceError("the provider's answer is not JSON") from exc

    async def update(self, channel: ChannelEntry) -> float:
        """Ask the provider for one channel's balance and store it; BalanceError says why it could not."""
        fetch = FETCHERS.get(channel.type)
        if fetch is None:
            raise BalanceError(f"balance queries are not supported for channel type "
                               f"{channel_types.get(channel.type).label} ({channel.type})")
        if not channel.key:
            raise BalanceError("the channel's key cannot be opened")
        try:
            balance = await fetch(self._get, channel)
        except BalanceError as exc:
            # A provider's message may quote the key it was sent.
            raise BalanceError(redact(str(exc), secrets_of(channel.key))) from None
        await writes.set_channel_balance(self.keeper, channel.id, balance, int(time.time()))
        return balance

    async def update_all(self) -> dict[str, Any]:
        """Update every enabled channel of a supported type; one with nothing left is disabled when auto-disable
        is on (One API disables it always). Answers what happened to each."""
        channels = [c for _, c in sorted(self.cache.channels.items())
                    if c.status == ChannelStatus.ENABLED and c.type in FETCHERS]
        skipped = sum(1 for c in self.cache.channels.values() if c.status == ChannelStatus.ENABLED) - len(channels)
        pause = self.settings.polling_interval_s
        gate = asyncio.Semaphore(1 if pause else CONCURRENCY)
        updated: dict[int, float] = {}
        failed: list[dict[str, Any]] = []
        disabled: list[int] = []

        async def one(channel: ChannelEntry) -> None:
            async with gate:
                try:
                    balance = updated[channel.id] = await self.update(channel)
                except BalanceError as exc:
                    failed.append({"id": channel.id, "name": channel.name, "message": str(exc)})
                else:
                    if balance <= 0 and self.cache.options.flag("AutomaticDisableChannelEnabled"):
                        await writes.update_channel(self.keeper, channel.id, {"status": ChannelStatus.AUTO_DISABLED})
                        disabled.append(channel.id)
                        log.warning("channel %s (#%s) disabled automatically: balance %s", channel.name,
                                    channel.id, balance)
                        self.notices.notify(f"Channel {channel.name} (#{channel.id}) was disabled",
                                            f"Channel {channel.name} (#{channel.id}) has no balance left ({balance}).")
                if pause:
                    await asyncio.sleep(pause)

        await asyncio.gather(*(one(channel) for channel in channels))
        return {"updated": len(updated), "balances": {str(k): v for k, v in sorted(updated.items())},
                "failed": sorted(failed, key=lambda item: item["id"]), "disabled": sorted(disabled),
                "skipped": skipped}
