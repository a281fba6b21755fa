"""Horizontal bar charts drawn straight to inline SVG: the reasons x revenue charts.

A chart is a few hundred lines of markup built from the numbers in well under a
millisecond, so a dashboard rebuilt after every change on the desk draws its charts
anew at no cost worth measuring (a Vega engine took hundreds of milliseconds a chart).
No script, no style sheet, nothing fetched: the page's Content-Security-Policy and the
standalone file hold them as they are. Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

LABEL_WIDTH = 220  # the category labels' column, in px
LABEL_CHARS = 34  # longer labels are cut with an ellipsis (the whole label in a tooltip)
VALUE_ROOM = 110  # room right of the longest bar for its figure
AXIS_HEIGHT = 34
FONT = "font-family:system-ui,sans-serif;font-size:11px"
TEXT = "#1d2330"
MUTED = "#667"
GRID = "#e3e6ea"


@dataclass(frozen=True)
class Bar:
    """One bar: its value (the bar's length), its colour, what it says beside it (nothing
    when empty) and its tooltip."""

    value: float
    colour: str
    text: str
    tooltip: str


@dataclass(frozen=True)
class Group:
    """One category (a row of the chart): its label and its bars, drawn one under another."""

    label: str
    bars: Sequence[Bar]


def nice_top(largest: float) -> float:
    """A round top for the axis at or above ``largest`` (1, 2, 2.5 or 5 times a power of
    ten); 1 for an empty or all-zero chart."""
    if largest <= 0 or not math.isfinite(largest):
        return 1.0
    power = 10.0 ** math.floor(math.log10(largest))
    for step in (1, 2, 2.5, 5, 10):
        if largest <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10 x power


def _cut(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(
    groups: Sequence[Group],
    *,
    width: int,
    bar_height: int,
    description: str,
    axis_title: str,
    tick_label: Callable[[float], str],
    top: float | None = None,
    ticks: int = 4,
    legend: Sequence[tuple[str, str]] = (),
) -> Markup:
    """``groups`` as horizontal bars on one axis from 0 to ``top`` (a round number above the
    largest value when None), ``ticks`` + 1 gridlines labelled by ``tick_label``, and a
    legend of (name, colour) below when given."""
    top = (
        top
        if top is not None
        else nice_top(max((b.value for g in groups for b in g.bars), default=0))
    )
    scale = width / top if top > 0 else 0.0
    gap = 2
    group_gap = 6
    heights = [len(g.bars) * (bar_height + gap) - gap for g in groups]
    plot_height = sum(heights) + group_gap * (len(groups) + 1)
    legend_height = 22 if legend else 0
    total_width = LABEL_WIDTH + width + VALUE_ROOM
    total_height = plot_height + AXIS_HEIGHT + legend_height
    out: list[str] = [
        f'<svg class="rr-bars" role="img" width="{total_width}" height="{total_height}" '
        f'viewBox="0 0 {total_width} {total_height}" aria-label="{escape(description)}">',
        f"<title>{escape(description)}</title>",
        f'<g style="{FONT}">',
    ]
    left = LABEL_WIDTH
    for i in range(ticks + 1):
        x = left + width * i / ticks
        value = top * i / ticks
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{plot_height}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{plot_height + 13}" text-anchor="middle" fill="{MUTED}">'
            f"{escape(tick_label(value))}</text>"
        )
    out.append(
        f'<text x="{left + width / 2:.1f}" y="{plot_height + 28}" text-anchor="middle" '
        f'fill="{TEXT}">{escape(axis_title)}</text>'
    )
    y = float(group_gap)
    for group, height in zip(groups, heights, strict=True):
        out.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + height / 2 + 4:.1f}" text-anchor="end" '
            f'fill="{TEXT}"><title>{escape(group.label)}</title>{escape(_cut(group.label))}</text>'
        )
        for bar in group.bars:
            length = max(0.0, min(bar.value, top) * scale)
            out.append(
                f'<rect x="{left}" y="{y:.1f}" width="{length:.1f}" height="{bar_height}" '
                f'fill="{bar.colour}"><title>{escape(bar.tooltip)}</title></rect>'
            )
            if bar.text:
                out.append(
                    f'<text x="{left + length + 3:.1f}" y="{y + bar_height / 2 + 4:.1f}" '
                    f'fill="{TEXT}">{escape(bar.text)}</text>'
                )
            y += bar_height + gap
        y += group_gap - gap
    if legend:
        x = float(left)
        ly = plot_height + AXIS_HEIGHT + 6
        for name, colour in legend:
            out.append(
                f'<rect x="{x:.1f}" y="{ly}" width="10" height="10" fill="{colour}"/>'
                f'<text x="{x + 14:.1f}" y="{ly + 9}" fill="{TEXT}">{escape(name)}</text>'
            )
            x += 22 + 7 * len(name)
    out.append("</g></svg>")
    return Markup("".join(out))
