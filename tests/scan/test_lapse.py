"""The lapse rules on hand-made customers, with numbers a reader can check."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from winback.policy import Policy
from winback.scan.lapse import classify, typical_interval

AS_OF = date(2024, 6, 30)


def frame(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "segment": ["all"] * n,
        "purchases": [5] * n,
        "own_interval_days": [30.0] * n,
        "days_since_last_order": [10] * n,
        "last_order_date": [pd.Timestamp("2024-06-20")] * n,
        "revenue_recent": [100.0] * n,
        "revenue_prior": [100.0] * n,
        "revenue_year_ago": [100.0] * n,
        "sent_recently": [None] * n,
        "last_engaged_at": [pd.NaT] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_own_interval_is_shrunk_toward_the_segment_by_the_number_of_intervals() -> None:
    f = frame(purchases=[2, 11, 1, 3], own_interval_days=[10.0, 10.0, np.nan, 50.0])
    # Segment median of own intervals = median(10, 10, 50) = 10; prior worth 3 intervals.
    # [1 x 10 + 3 x 10] / 4 = 10; one-time buyer: 10; [2 x 50 + 3 x 10] / 5 = 26.
    assert typical_interval(f, Policy()).tolist() == [10.0, 10.0, 10.0, 26.0]


def test_no_order_within_three_cycles_is_lapsed_with_the_numbers() -> None:
    f = frame(
        purchases=[11, 11, 11],
        own_interval_days=[30.0, 30.0, 30.0],
        days_since_last_order=[94, 50, 10],
    )
    result = classify(f, AS_OF, Policy())
    assert result.status.tolist() == ["lapsed", "slipping", "active"]
    # typical = (10 x 30 + 3 x 30) / 13 = 30
    assert result.reasons[0] == ["last order 94 days ago; usually orders every 30 days (3.1×)"]


def test_volume_drop_against_the_period_before_is_slipping() -> None:
    f = frame(
        revenue_recent=[40.0, 60.0], revenue_prior=[100.0, 100.0], revenue_year_ago=[40.0, 60.0]
    )
    result = classify(f, AS_OF, Policy())
    assert result.status.tolist() == ["slipping", "active"]
    assert result.reasons[0] == [
        "revenue in the last 90 days 40.00, down 60% from 100.00 in the period before"
    ]


def test_no_engagement_with_mail_sent_is_slipping_but_no_mail_sent_is_not() -> None:
    f = frame(
        sent_recently=[4, None],
        last_engaged_at=[pd.Timestamp("2023-11-01"), pd.NaT],
    )
    result = classify(f, AS_OF, Policy())
    assert result.status.tolist() == ["slipping", "active"]
    assert "sent 4 mailings in the last 6 months, opened or clicked none" in result.reasons[0][0]


def test_long_silence_is_lost_and_a_model_verdict_can_make_lapsed_lost() -> None:
    f = frame(
        purchases=[2, 2, 2],
        own_interval_days=[400.0, 400.0, 400.0],
        days_since_last_order=[600, 200, 200],
        p_alive=[0.9, 0.05, 0.3],
    )
    result = classify(f, AS_OF, Policy())
    # 600 days > 18 months: lost. 200 days > 6 months: lapsed, and P(alive) 0.05 < 0.1: lost.
    assert result.status.tolist() == ["lost", "lost", "lapsed"]
    assert "P(alive) 0.30 (customer-base model)" in result.reasons[2]


def test_expected_next_purchase_overdue_is_slipping_with_the_due_date() -> None:
    f = frame(
        p_alive=[0.9, 0.9],
        overdue_ratio=[2.5, 1.0],
        due_days=[100.0, 100.0],
        first_order_date=[pd.Timestamp("2024-01-01")] * 2,
    )
    result = classify(f, AS_OF, Policy())
    assert result.status.tolist() == ["slipping", "active"]
    # 2024-01-01 + 100 days = 2024-04-10
    assert result.reasons[0] == [
        "expected next purchase was due 2024-04-10 (customer-base model); "
        "2.5 expected gaps since the last"
    ]


def test_each_customer_gets_the_words_of_their_own_signals() -> None:
    f = frame(
        contracts=[0, 1, 2],
        active_contracts=[0, 0, 0],
        last_cancelled_on=[pd.NaT, pd.Timestamp("2024-05-01"), pd.Timestamp("2022-01-15")],
        last_cancel_reason=[None, "price", None],
        p_alive=[0.9, 0.9, 0.3],
        days_since_last_order=[10, 10, 600],
        last_order_date=[
            pd.Timestamp("2024-06-20"),
            pd.Timestamp("2024-06-20"),
            pd.Timestamp("2022-11-08"),
        ],
    )
    result = classify(f, AS_OF, Policy())
    assert result.status.tolist() == ["active", "lapsed", "lost"]
    assert result.reasons[0] == []
    assert result.reasons[1] == ["cancelled the subscription on 2024-05-01 (price)"]
    assert "cancelled the subscription on 2022-01-15" in result.reasons[2]
    assert "no purchase in 19.7 months (last order 2022-11-08)" in result.reasons[2]
    assert "P(alive) 0.30 (customer-base model)" in result.reasons[2]
    assert "reasons" not in classify(f, AS_OF, Policy(), with_reasons=False)


def test_statuses_come_from_the_lapse_risk_when_the_backtest_chose_a_threshold() -> None:
    # Typical interval 30 days for all (ten intervals of 30, segment median 30).
    f = frame(
        purchases=[11, 11, 11, 11, 11],
        days_since_last_order=[20, 50, 100, 100, 600],
        lapse_risk=[0.20, 0.70, 0.90, 0.40, 0.99],
        p_alive=[0.9, 0.6, 0.3, 0.5, 0.2],
    )
    result = classify(f, AS_OF, Policy(), risk_threshold=0.6, base_rate=0.25)
    # Low risk: active, even 100 days quiet (3.3 cycles); high risk but within 3 cycles:
    # slipping; high and past 3 cycles: lapsed; 600 days (over 18 months): lost.
    assert result.status.tolist() == ["active", "slipping", "lapsed", "active", "lost"]
    assert result.reasons[0] == []
    assert result.reasons[3] == []
    assert result.reasons[2][0] == (
        "90% likely to place no order in the next 90 days (a typical active customer: 25%)"
    )
    assert "last order 100 days ago, 3.3× their usual 30 days" in result.reasons[2]
    assert "P(alive) 0.30 (customer-base model)" in result.reasons[2]


def test_without_a_threshold_the_rules_decide_even_with_a_risk_column() -> None:
    f = frame(purchases=[11], days_since_last_order=[94], lapse_risk=[0.1])
    assert classify(f, AS_OF, Policy()).status.tolist() == ["lapsed"]


def test_the_reasons_name_each_driver_with_its_numbers() -> None:
    f = frame(
        purchases=[11],
        days_since_last_order=[70],
        lapse_risk=[0.8],
        longest_gap_days=[45.0],
        purchases_half_year=[1],
        purchases_half_year_before=[6],
        engaged_half_year=[0],
        engaged_half_year_before=[8],
        unrepaired_incidents=[2],
        negative_posts=[0],
    )
    reasons = classify(f, AS_OF, Policy(), risk_threshold=0.5, base_rate=0.3).reasons[0]
    assert reasons == [
        "80% likely to place no order in the next 90 days (a typical active customer: 30%)",
        "last order 70 days ago, 2.3× their usual 30 days",
        "their longest wait yet (longest before: 45 days)",
        "1 purchase in the last 6 months after 6 in the 6 before",
        "opened no e-mail in 6 months after opening 8 before",
    ]  # the risk and at most four drivers: the incidents are left out
