"""Prices: One API's ratio lookups and cost formulas."""

from __future__ import annotations

from tollway.billing import pricing, ratios
from tollway.options import Options


def test_ratio_lookup_order_and_fallbacks() -> None:
    options = Options({"ModelRatio": '{"gpt-4o": 2, "gpt-4o(3)": 1.5, "qwen-max": 1}'})
    assert ratios.model_ratio(options, "gpt-4o", 3) == 1.5
    assert ratios.model_ratio(options, "gpt-4o", 1) == 2
    assert ratios.model_ratio(options, "qwen-max-internet", 17) == 1
    assert ratios.model_ratio(options, "never-heard-of-it", 1) == 30
    # Built-in prices join an older stored table, as One API does on upgrade.
    assert ratios.model_ratio(options, "gpt-4o-mini", 1) == 0.075
    assert ratios.completion_ratio(options, "claude-3-unknown", 14) == 5
    assert ratios.completion_ratio(options, "something", 1) == 1
    assert ratios.group_ratio(options, "nobody") == 1


def test_text_cost_rounding() -> None:
    price = pricing.Price(model_ratio=0.075, group_ratio=1, completion_ratio=4)
    assert pricing.text_cost(price, 11, 5) == 3  # (11 + 20) × 0.075 = 2.325 → 3
    assert pricing.text_cost(price, 0, 0) == 0
    assert pricing.text_cost(pricing.Price(0.0001, 1, 1), 1, 0) == 1  # a priced call never costs 0
    assert pricing.text_cost(pricing.Price(0, 1, 1), 100, 100) == 0  # a free model costs nothing
    assert pricing.text_hold(price, 500, 10, 100) == 46  # (500 + 10 + 100) × 0.075 = 45.75


def test_image_costs() -> None:
    dalle3 = pricing.Price(20, 1, 1)
    assert pricing.image_cost(dalle3, {"model": "dall-e-3", "size": "1024x1024", "n": 1}) == 20000
    assert pricing.image_cost(dalle3, {"model": "dall-e-3", "size": "1024x1024", "quality": "hd"}) == 40000
    assert pricing.image_cost(dalle3, {"model": "dall-e-3", "size": "1792x1024", "quality": "hd"}) == 60000
    dalle2 = pricing.Price(8, 1, 1)
    assert pricing.image_cost(dalle2, {"model": "dall-e-2", "size": "512x512", "n": 3}) == 9000 * 3


def test_vertex_claude_names_find_anthropic_prices() -> None:
    options = Options()
    assert ratios.model_ratio(options, "claude-3-5-haiku@20241022", 42) == ratios.model_ratio(
        options, "claude-3-5-haiku-20241022", 14)
