"""The open gap and the latest spend read against the customer's own history (issue 18):
``features.gap_spread_features`` and the lapse-risk inputs built from it."""

from __future__ import annotations

from datetime import date

import ibis
import numpy as np
import pandas as pd
import pytest

from winback.policy import Policy
from winback.scan.features import customer_days, gap_spread_features
from winback.scan.follow_suit import FEATURES, RHYTHM_INPUTS, model_matrix, own_rhythm_inputs

AS_OF = date(2026, 4, 1)


def _orders(rows: list[tuple[str, str, float, str | None]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "status"])
    frame["order_date"] = pd.to_datetime(frame["order_date"]).dt.date
    table = ibis.memtable(frame)
    money = "decimal(18, 2)"
    return table.mutate(amount=table.amount.cast(money), margin=ibis.null().cast(money))


def _spread(rows: list[tuple[str, str, float, str | None]]) -> pd.DataFrame:
    return (
        gap_spread_features(customer_days(_orders(rows)), AS_OF)
        .to_pandas()
        .set_index("customer_id")
    )


def test_the_gaps_are_counted_between_purchase_days_with_their_spend() -> None:
    out = _spread(
        [
            ("a", "2026-01-01", 10.0, None),
            ("a", "2026-01-11", 20.0, "completed"),
            ("a", "2026-01-31", 30.0, None),
            ("a", "2026-03-02", 6.0, None),
            ("a", "2026-03-02", 4.0, None),  # the same day: one purchase of 10
            ("a", "2026-03-20", 99.0, "cancelled"),  # not counted
            ("a", "2026-04-02", 99.0, None),  # after the cutoff
        ]
    )
    a = out.loc["a"]
    # Gaps 10, 20 and 30 days; the gap open now is 30 days (2 March to 1 April).
    assert a["gap_mean_days"] == pytest.approx(20.0)
    assert a["gap_sd_days"] == pytest.approx(np.std([10.0, 20.0, 30.0]))
    assert a["gaps_at_least_open"] == 1
    assert a["recent_gap_mean_days"] == pytest.approx(20.0)  # the latest three
    assert a["day_revenue_mean"] == pytest.approx((10 + 20 + 30 + 10) / 4)
    assert a["recent_day_revenue"] == pytest.approx((20 + 30 + 10) / 3)


def test_only_the_latest_gaps_make_the_recent_mean() -> None:
    days = ["2025-01-01", "2025-01-11", "2025-01-21", "2025-01-31", "2025-03-31", "2025-06-30"]
    out = _spread([("slow", d, 50.0, None) for d in days])
    # Gaps 10, 10, 10, 59, 91: the latest three average 160/3 against all five's 36.
    assert out.loc["slow", "recent_gap_mean_days"] == pytest.approx((10 + 59 + 91) / 3)
    assert out.loc["slow", "gap_mean_days"] == pytest.approx((10 + 10 + 10 + 59 + 91) / 5)


def _frame(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_an_open_gap_far_past_the_customers_own_is_read_as_overdue() -> None:
    # Two customers with the same gaps (mean 30, spread 5 over 4 gaps): one 28 days since
    # the last purchase, one 70. A third has one gap only: too little to read.
    frame = _frame(
        purchases=[5, 5, 2],
        days_since_last_order=[28, 70, 70],
        gap_mean_days=[30, 30, 30],
        gap_sd_days=[5, 5, 0],
        gaps_at_least_open=[3, 0, 0],
        recent_gap_mean_days=[30, 45, 30],
        day_revenue_mean=[100, 100, 100],
        recent_day_revenue=[100, 50, 100],
    )
    out = own_rhythm_inputs(frame)
    on_time, overdue, unknown = out.iloc[0], out.iloc[1], out.iloc[2]
    assert on_time["open_gap_quantile"] == pytest.approx(0.25)
    assert overdue["open_gap_quantile"] == pytest.approx(1.0)
    assert on_time["open_gap_z"] == pytest.approx(-2 / 7)  # the spread's floor is 7 days
    assert overdue["open_gap_z"] == pytest.approx(40 / 7)
    assert overdue["open_gap_surprise"] > on_time["open_gap_surprise"] + 5
    assert on_time["open_gap_surprise"] > 0
    assert overdue["gap_trend"] == pytest.approx(1.5)
    assert overdue["recent_spend_ratio"] == pytest.approx(0.5)
    assert out.iloc[2].isna().all(), unknown


def test_the_lapse_risk_model_reads_them_from_the_scans_features() -> None:
    frame = _frame(
        purchases=[5.0],
        days_since_last_order=[70.0],
        own_interval_days=[30.0],
        revenue=[500.0],
        revenue_recent=[40.0],
        revenue_prior=[200.0],
        gap_mean_days=[30.0],
        gap_sd_days=[5.0],
        gaps_at_least_open=[0.0],
        recent_gap_mean_days=[45.0],
        day_revenue_mean=[100.0],
        recent_day_revenue=[50.0],
    ).assign(segment="all")
    m = model_matrix(frame, AS_OF, Policy())
    assert set(RHYTHM_INPUTS) <= set(FEATURES)
    assert m.loc[0, "open_gap_quantile"] == pytest.approx(1.0)
    assert m.loc[0, "recent_spend_ratio"] == pytest.approx(0.5)
