"""The lapse-risk classifier's inputs (``follow_suit.model_matrix``) as one block of numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from winback.policy import Policy
from winback.scan.follow_suit import FEATURES, model_matrix

AS_OF = date(2026, 4, 1)


def _features() -> pd.DataFrame:
    """Three customers, the second with nothing due, sent or bought lately; picked out of
    a bigger frame as the backtest picks its active customers (index 3, 5, 9)."""
    return pd.DataFrame(
        {
            "segment": ["all", "all", "all"],
            "purchases": [5, 1, 3],
            "days_since_last_order": [70, 300, 10],
            "own_interval_days": [30.0, np.nan, 20.0],
            "revenue": [500.0, 20.0, np.nan],
            "revenue_recent": [40.0, 0.0, 30.0],
            "revenue_prior": [200.0, 0.0, 10.0],
            "invoices_due": [4.0, 0.0, np.nan],
            "invoices_late": [1.0, 0.0, np.nan],
            "last_engaged_at": pd.to_datetime(["2026-03-22 10:00", None, "2026-01-01 00:00"]),
            "longest_gap_days": [35.0, 0.0, 20.0],
            "last_gap_days": [28.0, np.nan, 5.0],
            "purchases_half_year": [1, 0, 3],
            "purchases_half_year_before": [3, 0, 0],
            "sent_quarter": [4.0, 0.0, 2.0],
            "opened_quarter": [1.0, 0.0, 2.0],
            "sent_before_quarter": [8.0, 0.0, 0.0],
            "opened_before_quarter": [6.0, 0.0, 0.0],
        },
        index=[3, 5, 9],
    )


def test_the_inputs_are_hand_computable_and_nan_where_unknown() -> None:
    m = model_matrix(_features(), AS_OF, Policy())
    assert list(m.columns) == list(FEATURES)
    assert list(m.index) == [3, 5, 9]
    assert m.dtypes.unique().tolist() == [np.dtype("float64")]
    assert m.loc[3, "late_share"] == pytest.approx(0.25)
    assert np.isnan(m.loc[5, "late_share"])  # nothing due
    assert m.loc[3, "days_since_engaged"] == 9  # 22 March 10:00 to 1 April
    assert np.isnan(m.loc[5, "days_since_engaged"])
    assert m.loc[3, "gap_over_longest"] == pytest.approx(2.0)
    assert m.loc[3, "frequency_trend"] == pytest.approx(-0.5)  # (1 - 3) / (1 + 3)
    assert np.isnan(m.loc[5, "frequency_trend"])
    assert m.loc[9, "spend_trend"] == pytest.approx(0.5)  # (30 - 10) / (30 + 10)
    assert m.loc[3, "open_trend"] == pytest.approx(0.25 - 0.75)
    assert np.isnan(m.loc[9, "open_rate_before"])  # nothing sent the year before
    assert m[["returns", "negative_posts", "p_alive"]].isna().all().all()  # no such column
    assert m.loc[3, "revenue"] == 500.0


def test_the_backtests_float32_inputs_are_the_float64_ones_rounded() -> None:
    wide = model_matrix(_features(), AS_OF, Policy())
    narrow = model_matrix(_features(), AS_OF, Policy(), np.float32)
    assert narrow.dtypes.unique().tolist() == [np.dtype("float32")]
    pd.testing.assert_frame_equal(narrow, wide.astype("float32"))
