"""Diagnostic charts for the repeat-purchase models, as Altair charts (no files written).

The numbers come from :mod:`winback.models.diagnostics`; each chart's data is that tidy
table, so ``chart.to_dict()`` holds the same numbers a test can check. Draw one to a file
with ``vl_convert.vegalite_to_png(chart.to_json())``.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from winback.models import diagnostics
from winback.models.transaction import RepeatPurchaseModel


def calibration_vs_holdout(
    model: RepeatPurchaseModel,
    frequency_cal: Any,
    recency_cal: Any,
    T_cal: Any,
    frequency_holdout: Any,
    duration_holdout: float,
    max_frequency: int = 7,
) -> alt.Chart:
    """Mean holdout purchases, actual and model, by calibration frequency: lines.
    Data: :func:`winback.models.diagnostics.holdout_by_frequency`."""
    tidy = diagnostics.holdout_by_frequency(
        model,
        frequency_cal,
        recency_cal,
        T_cal,
        frequency_holdout,
        duration_holdout,
        max_frequency,
    )
    chart: alt.Chart = (
        alt.Chart(tidy, title="Holdout purchases by calibration frequency")
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "frequency:O",
                sort=diagnostics.bin_order(max_frequency),
                title="Calibration purchases",
            ),
            y=alt.Y("purchases:Q", title="Mean holdout purchases per customer"),
            color=alt.Color("series:N", title=None),
            tooltip=["frequency", "series", alt.Tooltip("purchases:Q", format=".3f"), "customers"],
        )
    )
    return chart


def repeat_purchase_histogram(
    model: RepeatPurchaseModel, frequency: Any, T: Any, max_frequency: int = 7
) -> alt.Chart:
    """Customers by number of repeat purchases, actual and model: grouped bars.
    Data: :func:`winback.models.diagnostics.repeat_purchase_counts`."""
    tidy = diagnostics.repeat_purchase_counts(model, frequency, T, max_frequency)
    chart: alt.Chart = (
        alt.Chart(tidy, title="Customers by repeat purchases")
        .mark_bar()
        .encode(
            x=alt.X(
                "frequency:O", sort=diagnostics.bin_order(max_frequency), title="Repeat purchases"
            ),
            xOffset="series:N",
            y=alt.Y("customers:Q", title="Customers"),
            color=alt.Color("series:N", title=None),
            tooltip=["frequency", "series", alt.Tooltip("customers:Q", format=".1f")],
        )
    )
    return chart


def cumulative_tracking(
    model: RepeatPurchaseModel,
    first_purchase: Any,
    times: Any,
    actual_cumulative: Any,
    calibration_end: float | None = None,
) -> alt.Chart | alt.LayerChart:
    """Cumulative repeat purchases of the whole base over time, actual and model: lines,
    with a rule where the calibration period ends when ``calibration_end`` is given.
    Data: :func:`winback.models.diagnostics.cumulative_tracking`."""
    tidy = diagnostics.cumulative_tracking(model, first_purchase, times, actual_cumulative)
    lines: alt.Chart = (
        alt.Chart(tidy, title="Cumulative repeat purchases")
        .mark_line()
        .encode(
            x=alt.X("time:Q", title="Time"),
            y=alt.Y("purchases:Q", title="Cumulative repeat purchases"),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.StrokeDash("series:N", legend=None),
        )
    )
    if calibration_end is None:
        return lines
    rule = (
        alt.Chart(pd.DataFrame({"time": [calibration_end]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(x="time:Q")
    )
    return alt.LayerChart(layer=[lines, rule])


def probability_alive_matrix(
    model: RepeatPurchaseModel,
    T: float,
    max_frequency: int = 20,
    recency_steps: int = 20,
) -> alt.Chart:
    """Heatmap of P(alive) over frequency × recency for customers observed for ``T``.
    Data: :func:`winback.models.diagnostics.probability_alive_grid`."""
    tidy = diagnostics.probability_alive_grid(model, T, max_frequency, recency_steps)
    chart: alt.Chart = (
        alt.Chart(tidy, title=f"P(alive) after T = {T:g}")
        .mark_rect()
        .encode(
            x=alt.X(
                "recency:O",
                title="Recency (time of last purchase)",
                axis=alt.Axis(labelExpr="format(datum.value, '.1f')"),
            ),
            y=alt.Y("frequency:O", sort="descending", title="Repeat purchases"),
            color=alt.Color(
                "probability_alive:Q", scale=alt.Scale(domain=[0, 1]), title="P(alive)"
            ),
            tooltip=["frequency", "recency", alt.Tooltip("probability_alive:Q", format=".3f")],
        )
    )
    return chart
