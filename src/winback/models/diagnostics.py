"""Diagnostics for the repeat-purchase models: the model's expectations beside what
customers actually did, as tidy tables (one row per point, a ``series`` column saying
"actual" or "model").

The numbers only; :mod:`winback.insights.model_charts` draws them. A test (or a reader)
checks the numbers here rather than pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from winback.errors import ModelError
from winback.models.transaction import RepeatPurchaseModel, customer_arrays


def _frequency_bins(x: np.ndarray[Any, Any], max_frequency: int) -> list[str]:
    labels = [str(int(v)) for v in np.minimum(x, max_frequency)]
    return [f"{max_frequency}+" if v == str(max_frequency) else v for v in labels]


def bin_order(max_frequency: int) -> list[str]:
    """The frequency bins in order: "0", "1", … and the last, "<max_frequency>+"."""
    return [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]


def holdout_by_frequency(
    model: RepeatPurchaseModel,
    frequency_cal: Any,
    recency_cal: Any,
    T_cal: Any,
    frequency_holdout: Any,
    duration_holdout: float,
    max_frequency: int = 7,
) -> pd.DataFrame:
    """Mean holdout purchases, actual and predicted, by calibration-period frequency.

    One row per (frequency bin, series) with ``frequency``, ``customers``, ``series``
    ("actual" or "model") and ``purchases`` (mean per customer), bins in order.
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
    grouped = grouped.reindex([b for b in bin_order(max_frequency) if b in grouped.index])
    return grouped.reset_index().melt(
        id_vars=["frequency", "customers"], var_name="series", value_name="purchases"
    )


def repeat_purchase_counts(
    model: RepeatPurchaseModel, frequency: Any, T: Any, max_frequency: int = 7
) -> pd.DataFrame:
    """Customers by number of repeat purchases: actual against the model's expectation.

    The model's count for n is Σ_i P(X(T_i) = n) over the customers (their own T); the
    last bin collects n and more. Columns: ``frequency``, ``series``, ``customers``.
    """
    x = np.asarray(frequency, dtype=np.float64)
    t = np.asarray(T, dtype=np.float64)
    bins = bin_order(max_frequency)
    actual = pd.Series(_frequency_bins(x, max_frequency)).value_counts()
    lengths, counts = np.unique(t, return_counts=True)
    n = np.arange(max_frequency)
    probs = model.probability_of_purchases(lengths[:, None], n[None, :])
    expected = counts @ probs
    expected = np.append(expected, len(t) - expected.sum())
    return pd.DataFrame(
        {
            "frequency": bins * 2,
            "series": ["actual"] * len(bins) + ["model"] * len(bins),
            "customers": [float(actual.get(b, 0)) for b in bins] + list(expected),
        }
    )


def cumulative_tracking(
    model: RepeatPurchaseModel, first_purchase: Any, times: Any, actual_cumulative: Any
) -> pd.DataFrame:
    """Cumulative repeat purchases of the whole base over time, actual against model.

    Parameters
    ----------
    first_purchase : array-like
        Each customer's first purchase time, from a common origin, in the model's unit.
    times : array-like
        Time points (same origin and unit) at which ``actual_cumulative`` was counted.
    actual_cumulative : array-like
        Repeat purchases by all customers up to each time point.

    The model's curve is Σ_i E[X(t − first_purchase_i)] over customers already born.
    Columns: ``time``, ``series``, ``purchases``.
    """
    births, counts = np.unique(np.asarray(first_purchase, dtype=np.float64), return_counts=True)
    grid = np.asarray(times, dtype=np.float64)
    ages = np.maximum(grid[:, None] - births[None, :], 0.0)
    expected = model.expected_purchases(ages) @ counts
    actual = np.asarray(actual_cumulative, dtype=np.float64)
    if actual.shape != grid.shape:
        raise ModelError("actual_cumulative needs one value per time point")
    return pd.DataFrame(
        {
            "time": np.concatenate([grid, grid]),
            "series": ["actual"] * len(grid) + ["model"] * len(grid),
            "purchases": np.concatenate([actual, expected]),
        }
    )


def probability_alive_grid(
    model: RepeatPurchaseModel, T: float, max_frequency: int = 20, recency_steps: int = 20
) -> pd.DataFrame:
    """P(alive) over frequency × recency for customers observed for ``T``.

    Columns: ``frequency``, ``recency``, ``probability_alive``. Customers without repeat
    purchases only have recency 0.
    """
    recency = np.linspace(0.0, T, recency_steps + 1)
    grid_x, grid_t = np.meshgrid(np.arange(max_frequency + 1, dtype=np.float64), recency)
    keep = (grid_x > 0) | (grid_t == 0)
    x, t_x = grid_x[keep], grid_t[keep]
    alive = model.conditional_probability_alive(x, t_x, np.full(x.shape, T))
    return pd.DataFrame({"frequency": x, "recency": np.round(t_x, 6), "probability_alive": alive})
