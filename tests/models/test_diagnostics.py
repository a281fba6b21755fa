"""The diagnostic charts carry the right numbers (read back from the Vega-Lite spec)."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest

from winback.models.bgnbd import BetaGeoModel
from winback.models.data import cumulative_repeat_purchases
from winback.models.diagnostics import (
    calibration_vs_holdout,
    cumulative_tracking,
    probability_alive_matrix,
    repeat_purchase_histogram,
)


@pytest.fixture(scope="module")
def fitted(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    s = cdnow_summary
    return BetaGeoModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def chart_rows(chart: alt.Chart | alt.LayerChart) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    datasets = list(spec["datasets"].values())
    return max(datasets, key=len)  # type: ignore[no-any-return]


def test_calibration_vs_holdout(fitted: BetaGeoModel, cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    chart = calibration_vs_holdout(
        fitted, s["frequency_cal"], s["recency_cal"], s["T_cal"], s["frequency_holdout"], 39.0
    )
    rows = {(r["frequency"], r["series"]): r for r in chart_rows(chart)}
    zero = s["frequency_cal"] == 0
    assert rows[("0", "actual")]["purchases"] == pytest.approx(
        s.loc[zero, "frequency_holdout"].mean()
    )
    assert rows[("0", "actual")]["customers"] == 1411
    seven_plus = s["frequency_cal"] >= 7
    expected = fitted.conditional_expected_purchases(
        39, *(s.loc[seven_plus, c] for c in ("frequency_cal", "recency_cal", "T_cal"))
    ).mean()
    assert rows[("7+", "model")]["purchases"] == pytest.approx(expected)
    assert chart.to_dict()["mark"]["type"] == "line"


def test_repeat_purchase_histogram(fitted: BetaGeoModel, cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    chart = repeat_purchase_histogram(fitted, s["frequency_cal"], s["T_cal"])
    rows = chart_rows(chart)
    actual = {r["frequency"]: r["customers"] for r in rows if r["series"] == "actual"}
    model = {r["frequency"]: r["customers"] for r in rows if r["series"] == "model"}
    assert actual["0"] == 1411
    assert sum(actual.values()) == 2357
    assert sum(model.values()) == pytest.approx(2357)
    # The BG/NBD fits the zero class closely on CDNOW (FHL 2005, fig. 2).
    assert model["0"] == pytest.approx(1411, rel=0.02)


def test_cumulative_tracking(
    fitted: BetaGeoModel, cdnow_transactions: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    weeks = np.arange(1, 79, dtype=float)
    births, actual = cumulative_repeat_purchases(
        cdnow_transactions, "customer_id", "date", "1997-01-01", weeks
    )
    assert len(births) == 2357
    assert births.max() < 12.1
    chart = cumulative_tracking(fitted, births, weeks, actual, calibration_end=272 / 7)
    rows = chart_rows(chart)
    model = [r["purchases"] for r in rows if r["series"] == "model"]
    got = [r["purchases"] for r in rows if r["series"] == "actual"]
    # Week 78 ends on 1998-06-30: every repeat purchase day of calibration and holdout.
    total = cdnow_summary["frequency_cal"].sum() + cdnow_summary["frequency_holdout"].sum()
    assert got[-1] == actual[-1] == total
    assert np.all(np.diff(model) >= 0)
    # Within calibration the model matches the actual total closely.
    week_39 = 38
    assert model[week_39] == pytest.approx(actual[week_39], rel=0.05)


def test_probability_alive_matrix(fitted: BetaGeoModel) -> None:
    chart = probability_alive_matrix(fitted, T=38.86, max_frequency=10, recency_steps=10)
    rows = chart_rows(chart)
    cell = {(r["frequency"], r["recency"]): r["probability_alive"] for r in rows}
    assert cell[(0.0, 0.0)] == 1.0
    assert all(0.0 <= v <= 1.0 for v in cell.values())
    assert cell[(10.0, 38.86)] > cell[(10.0, 3.886)]
    assert (0.0, 3.886) not in cell
    assert chart.to_dict()["mark"]["type"] == "rect"
