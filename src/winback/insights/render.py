"""The reasons x revenue report as HTML: charts drawn server-side to inline SVG, one
Jinja partial shared by the dashboard page and the standalone file.

Charts are Altair specs rendered by ``vl_convert`` (Vega in an embedded engine), so
neither the page nor the file runs JavaScript or loads anything from another host.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

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
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def money(value: float | None) -> str:
    """Money as the pages show it (the same as the ``money`` macro): 12,346."""
    return "–" if value is None else f"{value:,.0f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@functools.lru_cache(maxsize=64)
def _svg(spec_json: str) -> str:
    """A Vega-Lite spec drawn to SVG, without the namespace declarations: inline SVG in
    HTML needs none, and the file is to hold no address of another host at all."""
    svg = vl_convert.vegalite_to_svg(json.loads(spec_json))
    return _XMLNS.sub("", svg, count=2)


def _render(chart: alt.TopLevelMixin) -> Markup:
    spec = chart.to_dict()
    spec.pop("$schema", None)
    return Markup(_svg(json.dumps(spec, sort_keys=True)))


def revenue_chart(rows: list[Slice]) -> Markup | None:
    """Revenue lost, won back and returned unprompted by reason: grouped bars."""
    if not rows:
        return None
    data = [
        # Zero bars get no label: "0" beside every empty bar is noise.
        {
            "reason": s.label,
            "measure": measure,
            "value": round(value, 2),
            "text": money(value) if value else "",
        }
        for s in rows
        for measure, value in zip(
            MEASURES, (s.value_lost, s.value_won_back, s.value_returned), strict=True
        )
    ]
    order = [s.label for s in rows]
    base = alt.Chart(alt.InlineData(values=data)).encode(
        y=alt.Y("reason:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
        yOffset=alt.YOffset("measure:N", sort=list(MEASURES)),
        x=alt.X("value:Q", title="revenue a year"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "measure:N",
            sort=list(MEASURES),
            scale=alt.Scale(domain=list(MEASURES), range=list(COLOURS)),
            legend=alt.Legend(title=None, orient="bottom"),
        ),
        tooltip=["reason:N", "measure:N", "text:N"],
    )
    labels = base.mark_text(align="left", dx=3, fontSize=10).encode(text="text:N")
    chart = (
        alt.layer(bars, labels)
        .properties(
            width=WIDTH,
            height=alt.Step(13),
            description="Revenue lost, won back and returned unprompted, by reason",
        )
        .configure_view(stroke=None)
    )
    return _render(chart)


def rate_chart(rows: list[Slice], what: str) -> Markup | None:
    """Win-back rate by ``what``: one bar per slice that had attempts, labelled n/attempts."""
    tried = [s for s in rows if s.attempted]
    if not tried:
        return None
    data = [
        {
            "slice": s.label,
            "rate": s.rate or 0.0,
            "text": f"{pct(s.rate)} ({s.won_back}/{s.attempted})",
        }
        for s in tried
    ]
    base = alt.Chart(alt.InlineData(values=data)).encode(
        y=alt.Y("slice:N", sort=[s.label for s in tried], title=None),
        x=alt.X(
            "rate:Q",
            title="won back / attempted",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%"),
        ),
    )
    bars = base.mark_bar(color="#1f3a5f").encode(tooltip=["slice:N", "text:N"])
    labels = base.mark_text(align="left", dx=3, fontSize=10).encode(text="text:N")
    chart = (
        alt.layer(bars, labels)
        .properties(width=WIDTH, height=alt.Step(20), description=f"Win-back rate by {what}")
        .configure_view(stroke=None)
    )
    return _render(chart)


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
