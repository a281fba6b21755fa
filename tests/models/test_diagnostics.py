"""The model diagnostics: the model's expectations beside what CDNOW customers did."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.models.bgnbd import BetaGeoModel
from winback.models.data import cumulative_repeat_purchases
from winback.models.diagnostics import (
    cumulative_tracking,
    holdout_by_frequency,
    probability_alive_grid,
    repeat_purchase_counts,
)


@pytest.fixture(scope="module")
def fitted(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    s = cdnow_summary
    return BetaGeoModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")  # type: ignore[return-value]


def test_holdout_purchases_by_calibration_frequency_match_the_data_and_the_model(
    fitted: BetaGeoModel, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    table = holdout_by_frequency(
        fitted, s["frequency_cal"], s["recency_cal"], s["T_cal"], s["frequency_holdout"], 39.0
    )
    rows = {(r["frequency"], r["series"]): r for r in rows_of(table)}
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
    assert list(table["frequency"].unique()) == ["0", "1", "2", "3", "4", "5", "6", "7+"]


def test_repeat_purchase_counts_add_up_to_the_customers(
    fitted: BetaGeoModel, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    rows = rows_of(repeat_purchase_counts(fitted, s["frequency_cal"], s["T_cal"]))
    actual = {r["frequency"]: r["customers"] for r in rows if r["series"] == "actual"}
    model = {r["frequency"]: r["customers"] for r in rows if r["series"] == "model"}
    assert actual["0"] == 1411
    assert sum(actual.values()) == 2357
    assert sum(model.values()) == pytest.approx(2357)
    # The BG/NBD fits the zero class closely on CDNOW (FHL 2005, fig. 2).
    assert model["0"] == pytest.approx(1411, rel=0.02)


def test_cumulative_tracking_ends_at_every_repeat_purchase(
    fitted: BetaGeoModel, cdnow_transactions: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    weeks = np.arange(1, 79, dtype=float)
    births, actual = cumulative_repeat_purchases(
        cdnow_transactions, "customer_id", "date", "1997-01-01", weeks
    )
    assert len(births) == 2357
    assert births.max() < 12.1
    rows = rows_of(cumulative_tracking(fitted, births, weeks, actual))
    model = [r["purchases"] for r in rows if r["series"] == "model"]
    got = [r["purchases"] for r in rows if r["series"] == "actual"]
    # Week 78 ends on 1998-06-30: every repeat purchase day of calibration and holdout.
    total = cdnow_summary["frequency_cal"].sum() + cdnow_summary["frequency_holdout"].sum()
    assert got[-1] == actual[-1] == total
    assert np.all(np.diff(model) >= 0)
    # Within calibration the model matches the actual total closely.
    week_39 = 38
    assert model[week_39] == pytest.approx(actual[week_39], rel=0.05)


def test_probability_alive_grid_rises_with_recency(fitted: BetaGeoModel) -> None:
    rows = rows_of(probability_alive_grid(fitted, T=38.86, max_frequency=10, recency_steps=10))
    cell = {(r["frequency"], r["recency"]): r["probability_alive"] for r in rows}
    assert cell[(0.0, 0.0)] == 1.0
    assert all(0.0 <= v <= 1.0 for v in cell.values())
    assert cell[(10.0, 38.86)] > cell[(10.0, 3.886)]
    assert (0.0, 3.886) not in cell
    assert len(cell) == 1 + 10 * 11  # frequency 0 at recency 0 only; 1..10 at 11 recencies
