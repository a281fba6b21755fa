"""The pandas summary reproduces the published CDNOW calibration summary."""

from __future__ import annotations

import pandas as pd
import pytest

from winback.errors import ModelError
from winback.models.data import calibration_holdout_summary, summarise_transactions


def test_cdnow_customer_one_matches_the_published_summary(cdnow_summary: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005) and their CDNOW data notes: customer 1 has x = 2,
    # t_x = 30.43, T = 38.86 weeks at the end of the 39-week calibration period.
    row = cdnow_summary.loc[1]
    assert row["frequency_cal"] == 2
    assert row["recency_cal"] == pytest.approx(30.43, abs=0.005)
    assert row["T_cal"] == pytest.approx(38.86, abs=0.005)


def test_cdnow_counts(cdnow_summary: pd.DataFrame) -> None:
    # FHL 2005: 2,357 customers, of whom 1,411 made no repeat purchase in calibration.
    assert len(cdnow_summary) == 2357
    assert (cdnow_summary["frequency_cal"] == 0).sum() == 1411
    assert cdnow_summary["duration_holdout"].iloc[0] == pytest.approx(39.0)


def test_same_day_purchases_count_once_and_values_add_up() -> None:
    log = pd.DataFrame(
        {
            "c": ["a", "a", "a", "a", "b"],
            "d": pd.to_datetime(
                ["2020-01-01", "2020-01-08", "2020-01-08 15:00", "2020-01-15", "2020-01-10"],
                format="ISO8601",
            ),
            "v": [5.0, 10.0, 4.0, 2.0, 7.0],
        }
    )
    s = summarise_transactions(log, "c", "d", "2020-01-15", value_col="v", unit="days")
    assert s.loc["a"].tolist() == [2.0, 14.0, 14.0, 8.0]  # repeat days: 14 and 2 -> mean 8
    assert s.loc["b"].tolist() == [0.0, 0.0, 5.0, 0.0]


def test_holdout_counts_purchase_days_after_calibration() -> None:
    log = pd.DataFrame(
        {
            "c": [1, 1, 1, 1, 2],
            "d": ["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-05", "2020-01-04"],
            "v": [1.0, 2.0, 3.0, 5.0, 1.0],
        }
    )
    s = calibration_holdout_summary(log, "c", "d", "2020-01-03", "2020-01-10", "v", "days")
    assert s.index.tolist() == [1]  # customer 2 first bought in the holdout period
    assert s.loc[1, "frequency_holdout"] == 1
    assert s.loc[1, "monetary_value_holdout"] == 8.0
    assert s.loc[1, "duration_holdout"] == 7.0


def test_bad_unit_is_refused() -> None:
    log = pd.DataFrame({"c": [1], "d": ["2020-01-01"]})
    with pytest.raises(ModelError, match="unit"):
        summarise_transactions(log, "c", "d", "2020-01-02", unit="months")  # type: ignore[arg-type]
