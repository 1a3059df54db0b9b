"""Dashboard charts: scales say their unit, and no label leaves the chart or lies on another, whatever the amounts."""

from __future__ import annotations

import itertools

import pytest

from tollway.console import charts
from tollway.console.charts import Chart, Label, Series, compact, text_width


def extent(label: Label) -> tuple[float, float]:
    width = text_width(label.text)
    start = {"start": label.x, "middle": label.x - width / 2, "end": label.x - width}[label.anchor]
    return start, start + width


def assert_readable(chart: Chart) -> None:
    """Every label inside the chart's width, and labels on the same line never overlapping."""
    labels = [g.label for g in chart.grid if g.label.text] + list(chart.labels)
    for label in labels:
        start, end = extent(label)
        assert start >= 0 and end <= chart.width, (label.text, start, end)
    rows: dict[float, list[tuple[float, float]]] = {}
    for label in labels:
        rows.setdefault(label.y, []).append(extent(label))
    for spans in rows.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, spans


def test_compact_scale_labels() -> None:
    assert [compact(v, money=True) for v in (0, 0.00002, 0.000025, 0.25, 12.5, 1500, 2_000_000)] == [
        "$0", "$0.00002", "$0.000025", "$0.25", "$12.5", "$1.5K", "$2M"]
    assert [compact(v, money=False) for v in (0, 7, 250_000, 1_000_000, 3.2e9)] == ["0", "7", "250K", "1M", "3.2B"]


@pytest.mark.parametrize("amounts", [
    [0.000012, 0.000024, 0.0000031],  # a few cheap calls, in dollars
    [12_000_000.0, 3.0, 512_000_000_000.0],  # raw quota units of a busy gateway
    [0.0, 0.0, 0.0],
])
def test_labels_fit_for_tiny_and_huge_amounts(amounts: list[float]) -> None:
    money = max(amounts) < 1

    def axis(value: float) -> str:
        return compact(value, money=money)

    days = ["11-27", "11-28", "11-29"]
    assert_readable(charts.line(days, Series("quota", amounts), str, whole=not money, axis=axis, summary=""))
    assert_readable(charts.columns(days, [Series("quota", amounts)], str, whole=not money, axis=axis, summary=""))
    models = [("gpt-4o-mini-2024-07-18", amounts[0]), ("claude-3-5-sonnet-20241022-with-a-very-long-name-indeed", 1.0),
              ("通义千问-Max-最新版本", amounts[1])]
    bars = charts.bars(models, str, whole=not money, axis=axis, summary="")
    assert_readable(bars)
    assert all(g.label.text.startswith("$") == money for g in bars.grid if g.label.text)


def test_model_names_sit_above_their_bars() -> None:
    """Each name has its own line above its bar, so names never cover bars or each other on a narrow screen."""
    chart = charts.bars([("a-very-long-model-name-" * 2, 5.0), ("short", 1.0)], str, axis=str, summary="")
    for label, rect in zip(chart.labels, chart.rects, strict=True):
        assert label.y < rect.y and label.x == rect.x
