"""The reasons x revenue report as HTML: charts drawn server-side to inline SVG, one
Jinja partial shared by the dashboard page and the standalone file.

Charts are drawn straight to SVG (:mod:`winback.insights.bars`), so neither the page nor
the file runs JavaScript or loads anything from another host, and a report rebuilt after
a change on the desk draws its charts in well under a millisecond.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from winback.insights.bars import Bar, Group, bar_chart
from winback.insights.reasons import ReasonsReport, Slice

HERE = Path(__file__).resolve().parent
# The report's templates; the web app loads from here too, so its dashboard and the
# standalone file include the one partial, ``_reasons_report.html``.
TEMPLATES = HERE / "templates"
# The report's styles: a stylesheet of the dashboard page, inlined into the standalone file.
STATIC = HERE / "static"
REPORT_CSS = STATIC / "report.css"
# The standalone file's own page styles (the desk layout's, cut to what the report uses).
FILE_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
main { padding: 1rem 1.4rem; max-width: 80rem; margin: 0 auto; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .4rem .55rem; border-bottom: 1px solid #e3e6ea;
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
.panel { background: #fff; padding: .6rem 1rem; border: 1px solid #e3e6ea; margin-bottom: 1rem; }
.hint, .empty { color: #667; }
"""
WIDTH = 520
MEASURES = ("lost", "won back", "returned unprompted")
COLOURS = ("#c0504d", "#2e7d4f", "#8aa1c1")
RATE_COLOUR = "#1f3a5f"


def money(value: float | None) -> str:
    """Money as the pages show it (the same as the ``money`` macro): 12,346."""
    return "–" if value is None else f"{value:,.0f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def revenue_chart(rows: list[Slice]) -> Markup | None:
    """Revenue lost, won back and returned unprompted by reason: grouped bars, each
    labelled with its figure (empty bars with none: "0" beside every one is noise)."""
    if not rows:
        return None
    groups = [
        Group(
            s.label,
            [
                Bar(
                    value,
                    colour,
                    money(value) if value else "",
                    f"{s.label}, {measure}: {money(value)}",
                )
                for measure, value, colour in zip(
                    MEASURES,
                    (s.value_lost, s.value_won_back, s.value_returned),
                    COLOURS,
                    strict=True,
                )
            ],
        )
        for s in rows
    ]
    return bar_chart(
        groups,
        width=WIDTH,
        bar_height=11,
        description="Revenue lost, won back and returned unprompted, by reason",
        axis_title="revenue a year",
        tick_label=money,
        legend=list(zip(MEASURES, COLOURS, strict=True)),
    )


def rate_chart(rows: list[Slice], what: str) -> Markup | None:
    """Win-back rate by ``what``: one bar per slice that had attempts, labelled n/attempts."""
    tried = [s for s in rows if s.attempted]
    if not tried:
        return None
    groups = [
        Group(
            s.label,
            [
                Bar(
                    s.rate or 0.0,
                    RATE_COLOUR,
                    text := f"{pct(s.rate)} ({s.won_back}/{s.attempted})",
                    f"{s.label}: {text}",
                )
            ],
        )
        for s in tried
    ]
    return bar_chart(
        groups,
        width=WIDTH,
        bar_height=16,
        description=f"Win-back rate by {what}",
        axis_title="won back / attempted",
        tick_label=pct,
        top=1.0,
    )


def charts(report: ReasonsReport) -> dict[str, Markup | None]:
    """Every chart of the report, by name (None where there is nothing to draw)."""
    return {
        "revenue": revenue_chart(report.by_reason),
        "reason": rate_chart(report.by_reason, "reason"),
        "tier": rate_chart(report.by_tier, "tier"),
        "rep": rate_chart(report.by_rep, "rep"),
        "offer": rate_chart(report.by_offer, "offer"),
    }


def report_context(report: ReasonsReport) -> dict[str, Any]:
    """What ``_reasons_report.html`` needs, for the page and the file alike."""
    return {"report": report, "charts": charts(report)}


def report_css() -> str:
    """The report's own styles (``report.css``), as the dashboard page has them."""
    return REPORT_CSS.read_text(encoding="utf-8")


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), auto_reload=False
    )


def render_html(report: ReasonsReport) -> str:
    """The report as one self-contained HTML document: inline CSS and SVG, no script,
    nothing fetched from anywhere."""
    template = _environment().get_template("reasons_report_file.html")
    css = Markup(FILE_CSS + report_css())
    return template.render(css=css, page=False, **report_context(report))
