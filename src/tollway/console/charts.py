"""Dashboard charts drawn on the server: the geometry is computed here, templates/dashboard/chart.html draws the SVG.

Nothing here builds markup, so every label (a model may be named anything) is escaped by the template.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PALETTE = ("#2458d6", "#1f9d8a", "#e08a00", "#b3261e", "#7b4bd1", "#4a8f2a", "#c2417f", "#5b6475")
WIDTH, HEIGHT = 400, 220
MIN_LEFT, RIGHT, TOP, BOTTOM = 28, 10, 12, 28
BAR_ROW = 38  # one horizontal bar's row: its name on top, the bar under it
BAR_INSET = 8  # left and right margin of horizontal bars and their names
LABEL_CHARS = 56  # a name this long still fits above its bar
CHAR_WIDTH, WIDE_CHAR_WIDTH = 6.6, 11.0  # at the SVG's 11px font; wide (CJK) characters take about a full em

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per category."""

    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    color: str
    title: str


@dataclass(frozen=True)
class Line:
    points: str
    area: str
    color: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    title: str = ""


@dataclass(frozen=True)
class Gridline:
    """A gridline from (x1, y1) to (x2, y2) and its value written at its end."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: Label


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template needs; `summary` is the chart's accessible name."""

    summary: str
    width: int
    height: int
    rects: tuple[Rect, ...] = ()
    lines: tuple[Line, ...] = ()
    dots: tuple[Dot, ...] = ()
    grid: tuple[Gridline, ...] = ()
    labels: tuple[Label, ...] = ()  # category names
    legend: tuple[tuple[str, str], ...] = ()
    empty: bool = False


def ticks(maximum: float, *, whole: bool) -> list[float]:
    """Round gridline values from 0 to at least `maximum` in about four steps (whole steps for counted things)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    count = math.ceil(maximum / step - 1e-9)
    return [round(step * i, 10) for i in range(count + 1)]


def short(text: str, limit: int = LABEL_CHARS) -> str:
    """A category name cut to fit beside a bar (the full name is in the bar's tooltip)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def r(number: float) -> float:
    """Coordinates to a tenth of a pixel, which keeps the SVG short."""
    return round(number, 1)


def text_width(text: str) -> float:
    """About how wide a label is drawn, in SVG pixels."""
    return sum(WIDE_CHAR_WIDTH if ord(ch) > 0x2E80 else CHAR_WIDTH for ch in text)


def _left(values: list[float], axis: Format) -> float:
    """Room left of the plot for the widest value label, so that none is cut at the chart's edge."""
    return r(max(MIN_LEFT, max(text_width(axis(value)) for value in values) + 10))


def _y_grid(values: list[float], axis: Format, top: float, plot_h: float, left: float) -> tuple[Gridline, ...]:
    lines = []
    for value in values:
        y = r(TOP + plot_h - plot_h * value / top)
        lines.append(Gridline(left, y, WIDTH - RIGHT, y, Label(left - 6, r(y + 4), axis(value), "end")))
    return tuple(lines)


def _x_labels(categories: Sequence[str], slot: float, left: float) -> tuple[Label, ...]:
    return tuple(Label(r(left + slot * (i + 0.5)), HEIGHT - BOTTOM + 18, name) for i, name in enumerate(categories))


def columns(categories: Sequence[str], series: Sequence[Series], fmt: Format, *, summary: str,
            whole: bool = True, axis: Format | None = None) -> Chart:
    """Vertical columns per category, the series stacked in each column; `axis` writes the scale (default fmt)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    grid = ticks(max(totals, default=0), whole=whole)
    left = _left(grid, axis or fmt)
    top, plot_w, plot_h = grid[-1], WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    bar_w = slot * 0.62
    rects = []
    for i, category in enumerate(categories):
        base = 0.0
        for n, one in enumerate(series):
            value = one.values[i]
            if value <= 0:
                continue
            height = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - height
            name = f"{category} · {one.name}: {fmt(value)}" if len(series) > 1 else f"{category}: {fmt(value)}"
            rects.append(Rect(r(left + slot * i + (slot - bar_w) / 2), r(y), r(bar_w), r(height),
                              PALETTE[n % len(PALETTE)], name))
            base += value
    legend = tuple((s.name, PALETTE[n % len(PALETTE)]) for n, s in enumerate(series)) if len(series) > 1 else ()
    return Chart(summary, WIDTH, HEIGHT, rects=tuple(rects), grid=_y_grid(grid, axis or fmt, top, plot_h, left),
                 labels=_x_labels(categories, slot, left), legend=legend, empty=not any(totals))


def line(categories: Sequence[str], series: Series, fmt: Format, *, summary: str, whole: bool = True,
         axis: Format | None = None) -> Chart:
    """One series as a line over the categories, with a light area under it."""
    grid = ticks(max(series.values, default=0), whole=whole)
    left = _left(grid, axis or fmt)
    top, plot_w, plot_h = grid[-1], WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    color = PALETTE[0]
    points = [(left + slot * (i + 0.5), TOP + plot_h - plot_h * v / top) for i, v in enumerate(series.values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = ""
    if points:
        bottom = TOP + plot_h
        area = f"{points[0][0]:.1f},{bottom:.1f} {path} {points[-1][0]:.1f},{bottom:.1f}"
    dots = tuple(Dot(r(x), r(y), color, f"{categories[i]}: {fmt(series.values[i])}") for i, (x, y) in enumerate(points))
    return Chart(summary, WIDTH, HEIGHT, lines=(Line(path, area, color),), dots=dots,
                 grid=_y_grid(grid, axis or fmt, top, plot_h, left), labels=_x_labels(categories, slot, left),
                 empty=not any(series.values))


def bars(items: Sequence[tuple[str, float]], fmt: Format, *, summary: str, whole: bool = True,
         axis: Format | None = None) -> Chart:
    """Horizontal bars, one per named item (largest first, as given), each with its name above it, so that long
    names never crowd the bars, also on a phone's narrow chart."""
    axis = axis or fmt
    grid = ticks(max((v for _, v in items), default=0), whole=whole)
    top = grid[-1]
    left, plot_w = BAR_INSET, WIDTH - 2 * BAR_INSET
    height = TOP + BAR_ROW * max(1, len(items)) + BOTTOM
    rects, labels = [], []
    for i, (name, value) in enumerate(items):
        y = TOP + BAR_ROW * i
        color = PALETTE[i % len(PALETTE)]
        labels.append(Label(left, y + 11, short(name), "start", name))
        if value > 0:
            rects.append(Rect(left, y + 16, r(max(1.0, plot_w * value / top)), BAR_ROW - 22, color,
                              f"{name}: {fmt(value)}"))
    bottom = height - BOTTOM
    # Only as many scale labels as fit side by side: the first starts at the left edge, the last ends at the right.
    widest = max(text_width(axis(value)) for value in grid) + 12
    every = max(1, math.ceil(widest / (plot_w / max(1, len(grid) - 1))))
    gridlines = []
    for n, value in enumerate(grid):
        x = r(left + plot_w * value / top)
        anchor = "start" if n == 0 else "end" if n == len(grid) - 1 else "middle"
        shown = n == len(grid) - 1 or (n % every == 0 and len(grid) - 1 - n >= every)
        gridlines.append(Gridline(x, TOP, x, bottom, Label(x, bottom + 16, axis(value) if shown else "", anchor)))
    return Chart(summary, WIDTH, height, rects=tuple(rects), grid=tuple(gridlines), labels=tuple(labels),
                 empty=not any(v for _, v in items))


def compact(value: float, *, money: bool) -> str:
    """A scale label: three significant digits at most, K, M or B for thousands and more, `$` for currency."""
    sign = "$" if money else ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{sign}{_significant(value / limit)}{suffix}"
    return f"{sign}{_significant(value)}"


def _significant(number: float) -> str:
    if number == 0:
        return "0"
    places = max(0, 2 - math.floor(math.log10(abs(number))))
    return f"{number:.{places}f}".rstrip("0").rstrip(".") if places else f"{number:.0f}"
