"""Price lookups over the ratio options, in One API's order of precedence."""

from __future__ import annotations

import logging

from tollway.billing import prices
from tollway.options import Options

log = logging.getLogger(__name__)

_warned: set[str] = set()


def _base_name(model: str) -> str:
    # DashScope and Cohere web-search variants cost what the plain model costs.
    if model.endswith("-internet") and (model.startswith("qwen-") or model.startswith("command")):
        return model.removesuffix("-internet")
    # Vertex AI names Claude versions with "@" (claude-3-5-haiku@20241022); Anthropic's price has "-".
    return model.replace("@", "-")


def model_ratio(options: Options, model: str, channel_type: int) -> float:
    """Prompt price of `model` on a channel type: `name(type)`, then `name`, then the unknown-model price."""
    table = options.model_ratio
    name = _base_name(model)
    for key in (f"{name}({channel_type})", name):
        if key in table:
            return table[key]
    if name not in _warned:
        _warned.add(name)
        log.warning("no price for model %s; charging ratio %s (set it in ModelRatio)", name,
                    prices.UNKNOWN_MODEL_RATIO)
    return prices.UNKNOWN_MODEL_RATIO


def completion_ratio(options: Options, model: str, channel_type: int) -> float:
    """How many prompt tokens one completion token costs."""
    table = options.completion_ratio
    name = _base_name(model)
    for key in (f"{name}({channel_type})", name):
        if key in table:
            return table[key]
    for prefix, ratio in prices.COMPLETION_PREFIXES:
        if name.startswith(prefix):
            return ratio
    return 1.0


def group_ratio(options: Options, group: str) -> float:
    """Price multiplier of a user group; an unknown group pays 1, as in One API."""
    return options.group_ratio.get(group, 1.0)
