"""Diagnostic charts for the repeat-purchase models, as Altair charts (no files written).

Each function returns an ``alt.Chart`` whose data is a tidy table, so a test (or a reader)
can check the numbers in ``chart.to_dict()`` rather than the pixels.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from winback.errors import ModelError
from winback.models.transaction import RepeatPurchaseModel, customer_arrays


def _frequency_bins(x: np.ndarray[Any, Any], max_frequency: int) -> list[str]:
    labels = [str(int(v)) for v in np.minimum(x, max_frequency)]
    return [f"{max_frequency}+" if v == str(max_frequency) else v for v in labels]


def _bin_order(max_frequency: int) -> list[str]:
    return [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]


def calibration_vs_holdout(
    model: RepeatPurchaseModel,
    frequency_cal: Any,
    recency_cal: Any,
    T_cal: Any,
    frequency_holdout: Any,
    duration_holdout: float,
    max_frequency: int = 7,
) -> alt.Chart:
    """Mean holdout purchases, actual and predicted, by calibration-period frequency.

    The chart's data has one row per (frequency bin, series) with ``frequency``,
    ``series`` ("actual" or "model"), ``purchases`` (mean per customer) and ``customers``.
    """
    x, t_x, T = customer_arrays(frequency_cal, recency_cal, T_cal)
    actual = np.asarray(frequency_holdout, dtype=np.float64)
    if actual.shape != x.shape:
        raise ModelError("frequency_holdout needs one value per customer")
    predicted = model.conditional_expected_purchases(duration_holdout, x, t_x, T)
    frame = pd.DataFrame(
        {"frequency": _frequency_bins(x, max_frequency), "actual": actual, "model": predicted}
    )
    grouped = frame.groupby("frequency", sort=False).agg(
        actual=("actual", "mean"), model=("model", "mean"), customers=("actual", "size")
    )
    grouped = grouped.reindex([b for b in _bin_order(max_frequency) if b in grouped.index])
    tidy = grouped.reset_index().melt(
        id_vars=["frequency", "customers"], var_name="series", value_name="purchases"
    )
    chart: alt.Chart = (
        alt.Chart(tidy, title="Holdout purchases by calibration frequency")
        .mark_line(point=True)
        .encode(
            x=alt.X("frequency:O", sort=_bin_order(max_frequency), title="Calibration purchases"),
            y=alt.Y("purchases:Q", title="Mean holdout purchases per customer"),
            color=alt.Color("series:N", title=None),
            tooltip=["frequency", "series", alt.Tooltip("purchases:Q", format=".3f"), "customers"],
        )
    )
    return chart


def repeat_purchase_histogram(
    model: RepeatPurchaseModel, frequency: Any, T: Any, max_frequency: int = 7
) -> alt.Chart:
    """Customers by number of repeat purchases: actual against the model's expectation.

    The model's count for n is Σ_i P(X(T_i) = n) over the customers (their own T); the
    last bin collects n and more. Data columns: ``frequency``, ``series``, ``customers``.
    """
    x = np.asarray(frequency, dtype=np.float64)
    t = np.asarray(T, dtype=np.float64)
    bins = _bin_order(max_frequency)
    actual = pd.Series(_frequency_bins(x, max_frequency)).value_counts()
    lengths, counts = np.unique(t, return_counts=True)
    n = np.arange(max_frequency)
    probs = model.probability_of_purchases(lengths[:, None], n[None, :])
    expected = counts @ probs
    expected = np.append(expected, len(t) - expected.sum())
    tidy = pd.DataFrame(
        {
            "frequency": bins * 2,
            "series": ["actual"] * len(bins) + ["model"] * len(bins),
            "customers": [float(actual.get(b, 0)) for b in bins] + list(expected),
        }
    )
    chart: alt.Chart = (
        alt.Chart(tidy, title="Customers by repeat purchases")
        .mark_bar()
        .encode(
            x=alt.X("frequency:O", sort=bins, title="Repeat purchases"),
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
    """Cumulative repeat purchases of the whole base over time, actual against model.

    Parameters
    ----------
    first_purchase : array-like
        Each customer's first purchase time, from a common origin, in the model's unit.
    times : array-like
        Time points (same origin and unit) at which ``actual_cumulative`` was counted.
    actual_cumulative : array-like
        Repeat purchases by all customers up to each time point.
    calibration_end : float, optional
        Draws a rule where the calibration period ends.

    The model's curve is Σ_i E[X(t − first_purchase_i)] over customers already born.
    Data columns: ``time``, ``series``, ``purchases``.
    """
    births, counts = np.unique(np.asarray(first_purchase, dtype=np.float64), return_counts=True)
    grid = np.asarray(times, dtype=np.float64)
    ages = np.maximum(grid[:, None] - births[None, :], 0.0)
    expected = model.expected_purchases(ages) @ counts
    actual = np.asarray(actual_cumulative, dtype=np.float64)
    if actual.shape != grid.shape:
        raise ModelError("actual_cumulative needs one value per time point")
    tidy = pd.DataFrame(
        {
            "time": np.concatenate([grid, grid]),
            "series": ["actual"] * len(grid) + ["model"] * len(grid),
            "purchases": np.concatenate([actual, expected]),
        }
    )
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

    Data columns: ``frequency``, ``recency``, ``probability_alive``. Customers without
    repeat purchases only have recency 0.
    """
    recency = np.linspace(0.0, T, recency_steps + 1)
    grid_x, grid_t = np.meshgrid(np.arange(max_frequency + 1, dtype=np.float64), recency)
    keep = (grid_x > 0) | (grid_t == 0)
    x, t_x = grid_x[keep], grid_t[keep]
    alive = model.conditional_probability_alive(x, t_x, np.full(x.shape, T))
    tidy = pd.DataFrame({"frequency": x, "recency": np.round(t_x, 6), "probability_alive": alive})
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
