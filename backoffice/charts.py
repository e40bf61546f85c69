"""Bar charts drawn as SVG on the server: no JavaScript, no library, nothing fetched.

A chart is plain geometry computed here and written by a template
(templates/backoffice/bar_chart.html); colours come from the admin's CSS variables, so the
charts follow its light and dark themes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

Number = int | Decimal

WIDTH = 640
HEIGHT = 180
LEFT = 40  # the least room for the value axis' labels; more when they are longer
BOTTOM = 20  # room for the dates
TOP = 8
GAP = 2
# The axis' labels are 11 px (backoffice.css): a digit is about 6.2 px wide in the admin's
# fonts, a comma or a point less; the room left of the axis is sized for the longest label.
CHARACTER_WIDTH = 6.6
LABEL_PADDING = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    total: str
    sum: Decimal
    left: float
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def tick_x(self) -> float:
        """Where the axis' labels end (right-aligned), just left of the plot."""
        return self.left - 6


def _nice_top(peak: Number) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``peak`` (at least 1)."""
    peak = Decimal(peak)
    scale = Decimal(1)
    while True:
        for step in (1, 2, Decimal("2.5"), 5):
            if scale * step >= peak:
                return scale * step
        scale *= 10


def _plain(value: Decimal) -> Number:
    """1 rather than 1.0 on an axis."""
    return int(value) if value == value.to_integral_value() else value


def bar_chart(
    title: str,
    points: Sequence[tuple[str, Number]],
    *,
    fmt: Callable[[Number], str] = lambda v: f"{v:,}",
    label_every: int = 7,
) -> BarChart:
    """One bar per point (label, value), with a value axis of 0, half and the top, its labels
    written in full (``fmt``) with room for the longest."""
    top = _nice_top(max((value for _label, value in points), default=0))
    integral = all(isinstance(value, int) for _label, value in points)
    plot_height = HEIGHT - BOTTOM - TOP
    tick_values = [
        share
        for share in (0, 0.5, 1)
        if not integral or (top * Decimal(share)) % 1 == 0  # no "0.5 orders"
    ]
    tick_labels = [fmt(_plain(top * Decimal(share))) for share in tick_values]
    longest = max((len(text) for text in tick_labels), default=1)
    left = max(LEFT, longest * CHARACTER_WIDTH + LABEL_PADDING)
    slot = (WIDTH - left) / max(len(points), 1)
    bars, labels = [], []
    for i, (label, value) in enumerate(points):
        height = float(Decimal(value) / top) * plot_height
        x = left + i * slot
        bars.append(
            Bar(
                x + GAP / 2,
                TOP + plot_height - height,
                slot - GAP,
                height,
                f"{label}: {fmt(value)}",
            )
        )
        if i % label_every == 0:
            labels.append(Label(x + slot / 2, label[5:]))  # MM-DD of an ISO date
    ticks = [
        Tick(TOP + plot_height * (1 - share), text)
        for share, text in zip(tick_values, tick_labels, strict=True)
    ]
    summed = sum((Decimal(value) for _label, value in points), Decimal(0))
    return BarChart(title, bars, ticks, labels, fmt(_plain(summed)), summed, left)
