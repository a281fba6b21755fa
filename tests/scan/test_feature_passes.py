"""One aggregate per table (issue 16): ``customer_features`` reads each table once, and
gives what each per-table feature function gives on its own, joined on customer by
customer, at several cutoffs of a small simulated ledger; and the spread of each
customer's gaps is what a straightforward reading of their purchase days gives."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.scan import test_customer_days
from winback.ledger.contract import COUNTED_ORDER_STATUSES
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import features as f
from winback.scan.pipeline import default_as_of, feature_frame

ledger = test_customer_days.ledger  # the same small simulated ledger (fixture)


def _one_function_at_a_time(con: object, as_of: date, policy: Policy) -> pd.DataFrame:
    """Each feature function's own aggregate, joined on one after another."""
    t = con.table  # type: ignore[attr-defined]
    days = f.customer_days(t("orders"))
    base = f.order_features(days, as_of, policy)
    joined = base.left_join(
        t("customers").select("customer_id", "name", "segment"), "customer_id"
    ).drop("customer_id_right")
    for extra in (
        f.marketing_features(t("marketing_events"), as_of, policy),
        f.incident_features(t("incidents"), as_of, policy),
        f.lapse_incident_features(
            t("incidents"), base.select("customer_id", "last_order_date"), as_of
        ),
        f.interaction_features(t("interactions"), as_of),
        f.payment_features(t("invoices"), as_of, policy),
        f.return_features(t("returns"), as_of),
        f.gap_spread_features(days, as_of),
        f.engagement_trend_features(t("marketing_events"), as_of),
        f.mood_features(t("interactions"), as_of),
        f.repair_features(t("incidents"), as_of, policy),
        f.post_features(t("public_posts"), as_of),
        f.public_complaint_features(t("public_posts"), as_of, policy),
    ):
        joined = joined.left_join(extra, "customer_id").drop("customer_id_right")
    return feature_frame(joined.mutate(segment=joined.segment.fill_null("all")))


def test_one_pass_per_table_gives_each_functions_own_columns(ledger: Ledger) -> None:
    con = ledger.ibis()
    policy = Policy()
    as_of = default_as_of(con)
    for back in (0, 200, 500):
        cutoff = as_of - timedelta(days=back)
        want = _one_function_at_a_time(con, cutoff, policy)
        got = feature_frame(f.customer_features(con, cutoff, policy))
        assert list(got.columns) == list(want.columns)
        want = want.sort_values("customer_id").reset_index(drop=True)
        got = got.sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        # Every merged table has customers with something in it to compare.
        for column in (
            "sent_recently",
            "engaged_half_year",
            "recent_incidents",
            "unrepaired_incidents",
            "rude_noted",
            "sentiment_quarter",
        ):
            assert got[column].notna().sum() > 5, (back, column)
        # A customer without a public complaint has none, not 0, as before.
        assert not (got["public_complaints"] == 0).any()


def test_the_gap_spread_is_a_reading_of_each_customers_purchase_days(ledger: Ledger) -> None:
    con = ledger.ibis()
    orders = ledger.connect().sql("SELECT * FROM orders").df()
    orders = orders[orders["status"].isna() | orders["status"].isin(COUNTED_ORDER_STATUSES)]
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    as_of = default_as_of(con) - timedelta(days=300)
    got = feature_frame(f.customer_features(con, as_of, Policy())).set_index("customer_id")
    cut = pd.Timestamp(as_of)
    checked = 0
    for customer, own in orders[orders["order_date"] <= cut].groupby("customer_id"):
        spend = own.groupby("order_date")["amount"].sum().astype(float).sort_index()
        gaps = np.diff(spend.index.to_numpy()).astype("timedelta64[D]").astype(float)
        row = got.loc[customer]
        assert row["day_revenue_mean"] == pytest.approx(spend.mean(), rel=1e-12)
        assert row["recent_day_revenue"] == pytest.approx(spend.iloc[-3:].mean(), rel=1e-12)
        if len(gaps) == 0:
            assert np.isnan(row["gap_sd_days"])
            continue
        open_gap = (cut - spend.index[-1]).days
        assert row["gap_sd_days"] == pytest.approx(gaps.std(), rel=1e-12, abs=1e-12)
        assert row["gaps_at_least_open"] == (gaps >= open_gap).sum()
        # The latest three purchase days' gaps (the first day has none).
        assert row["recent_gap_mean_days"] == pytest.approx(gaps[-3:].mean(), rel=1e-12)
        checked += 1
    assert checked > 150
