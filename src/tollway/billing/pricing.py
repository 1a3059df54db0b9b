"""What a request costs in quota: One API's formulas for text, images and audio (reference §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tollway.billing import prices, ratios
from tollway.options import Options


@dataclass(frozen=True)
class Price:
    """The ratios that price one request."""

    model_ratio: float
    group_ratio: float
    completion_ratio: float

    @property
    def ratio(self) -> float:
        return self.model_ratio * self.group_ratio

    @cached_property
    def description(self) -> str:
        """The log's content line, as One API writes it (倍率：model × group × completion)."""
        return (f"model ratio {self.model_ratio:g} × group ratio {self.group_ratio:g}"
                f" × completion ratio {self.completion_ratio:g}")

    def describe(self) -> str:
        return self.description


_MEMO_LIMIT = 10_000  # prices remembered per options version; unknown model names cannot grow it forever


def price_of(options: Options, model: str, channel_type: int, group: str) -> Price:
    """The ratios of `model` on a channel type for a user group (worked out once per options version)."""
    key = ("price", model, channel_type, group)
    price: Price | None = options.derived.get(key)
    if price is None:
        price = Price(
            model_ratio=ratios.model_ratio(options, model, channel_type),
            group_ratio=ratios.group_ratio(options, group),
            completion_ratio=ratios.completion_ratio(options, model, channel_type),
        )
        if len(options.derived) < _MEMO_LIMIT:
            options.derived[key] = price
    return price


def _at_least_one(quota: float, ratio: float) -> int:
    # A priced request never costs 0: One API rounds a positive cost below 1 up to 1.
    cost = math.ceil(quota)
    return max(cost, 1) if ratio > 0 else max(cost, 0)


def text_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> int:
    """`ceil((prompt + completion × completion ratio) × ratio)`; nothing for a call that used no tokens."""
    if prompt_tokens + completion_tokens <= 0:
        return 0
    return _at_least_one((prompt_tokens + completion_tokens * price.completion_ratio) * price.ratio, price.ratio)


def text_hold(price: Price, pre_consumed: int, prompt_tokens: int, max_tokens: int) -> int:
    """What a text request holds before the call: `(PreConsumedQuota + prompt + max_tokens) × ratio`."""
    return _at_least_one((pre_consumed + prompt_tokens + max_tokens) * price.ratio, price.ratio)


def image_cost(price: Price, body: dict[str, Any]) -> int:
    """`int(ratio × size ratio × quality × 1000) × n` per One API's image price tables."""
    model = str(body.get("model", ""))
    size = str(body.get("size", "1024x1024"))
    size_ratio = prices.IMAGE_SIZE_RATIO.get(model, {}).get(size, 1.0)
    if model == "dall-e-3" and body.get("quality") == "hd":
        size_ratio *= 2 if size == "1024x1024" else 1.5
    count = body.get("n", 1)
    count = count if isinstance(count, int) and count > 0 else 1
    return int(price.ratio * size_ratio * 1000) * count


def speech_cost(price: Price, text: str) -> int:
    """Text to speech costs the ratio per character of input."""
    return _at_least_one(len(text) * price.ratio, price.ratio)


def audio_hold(price: Price, pre_consumed: int) -> int:
    """A transcription holds PreConsumedQuota × ratio until the transcript is known."""
    return _at_least_one(pre_consumed * price.ratio, price.ratio)
