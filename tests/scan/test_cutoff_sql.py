"""The backtest's past feature query compiled once (``scan/cutoff_sql.py``): each later
cutoff's SQL, the first's with its dates moved, is the very text Ibis compiles there and
gives the same rows; a query whose literals do not move with the cutoff is compiled at
every cutoff. And the columns the past queries leave out are read by nothing in the
backtest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from tests.scan import test_customer_days
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import features as f
from winback.scan.cutoff_sql import CutoffQueries, moved
from winback.scan.follow_suit import UNREAD_AT_PAST_CUTOFFS, backtest_and_score
from winback.scan.pipeline import default_as_of, feature_frame

ledger = test_customer_days.ledger  # the same small simulated ledger (fixture)

# Across a year's end and a leap day, a month apart and a year apart.
BACK = (0, 90, 120, 150, 181, 365, 366, 500, 800)


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("customer_id", "ascending")])


def test_moved_dates_keep_their_time_of_day_and_cross_months_and_years() -> None:
    sql = (
        "x >= MAKE_DATE(2024, 2, 28) AND y <= MAKE_TIMESTAMP(2023, 12, 31, 23, 59, 59.0) "
        "AND z = 'MAKE_DATE' AND w = MAKE_DATE(2024, 3, 1)"
    )
    assert moved(sql, 1) == (
        "x >= MAKE_DATE(2024, 2, 29) AND y <= MAKE_TIMESTAMP(2024, 1, 1, 23, 59, 59.0) "
        "AND z = 'MAKE_DATE' AND w = MAKE_DATE(2024, 3, 2)"
    )
    assert moved(moved(sql, -400), 400) == sql


def test_each_cutoffs_query_is_the_first_ones_moved(ledger: Ledger) -> None:
    con = ledger.ibis()
    policy = Policy()
    days = f.customer_days(con.table("orders"))
    as_of = default_as_of(con)
    first = as_of - timedelta(days=90)
    sql = str(con.compile(f.customer_features(con, first, policy, days)))
    for back in BACK:
        cutoff = first - timedelta(days=back)
        own = str(con.compile(f.customer_features(con, cutoff, policy, days)))
        assert moved(sql, (cutoff - first).days) == own, cutoff


def test_every_cutoff_reads_what_ibis_gives_there_compiled_twice(ledger: Ledger) -> None:
    con = ledger.ibis()
    policy = Policy()
    days = f.customer_days(con.table("orders"))
    as_of = default_as_of(con)
    queries = CutoffQueries(con, lambda cutoff: f.customer_features(con, cutoff, policy, days))
    for back in BACK:
        cutoff = as_of - timedelta(days=90 + back)
        want = f.customer_features(con, cutoff, policy, days).to_pyarrow()
        got = queries.arrow(cutoff)
        assert got.schema == want.schema
        assert _sorted(got).equals(_sorted(want)), cutoff
    assert queries.compiled == 2  # the first cutoff and the check at the second


def test_a_literal_that_does_not_move_is_compiled_at_every_cutoff(ledger: Ledger) -> None:
    con = ledger.ibis()
    days = f.customer_days(con.table("orders"))
    fixed = ibis.date(date(2020, 1, 1))

    def build(cutoff: date) -> object:
        d = days.filter((days.order_date <= ibis.date(cutoff)) & (days.order_date > fixed))
        return d.group_by("customer_id").aggregate(n=d.count())

    queries = CutoffQueries(con, build)
    as_of = default_as_of(con)
    for back in (0, 100, 300):
        cutoff = as_of - timedelta(days=back)
        want = build(cutoff).to_pyarrow()  # type: ignore[attr-defined]
        assert _sorted(queries.arrow(cutoff)).equals(_sorted(want)), cutoff
    assert queries.compiled == 3


def test_the_columns_left_out_at_past_cutoffs_change_no_risk_and_no_grade(
    ledger: Ledger,
) -> None:
    con = ledger.ibis()
    policy = Policy()
    as_of = default_as_of(con)
    days = f.customer_days(con.table("orders"))

    def frames(left_out: tuple[str, ...]) -> Callable[[date], pd.DataFrame]:
        def at(cutoff: date) -> pd.DataFrame:
            expr = f.customer_features(con, cutoff, policy, days).drop(*left_out)
            frame = feature_frame(expr).sort_values("customer_id", kind="stable")
            return frame.reset_index(drop=True)

        return at

    today = frames(())(as_of)
    whole_risk, whole = backtest_and_score(frames(()), today, as_of, policy)
    risk, slim = backtest_and_score(frames(UNREAD_AT_PAST_CUTOFFS), today, as_of, policy)
    assert whole.problem is None
    assert np.isfinite(whole_risk).sum() > 100
    np.testing.assert_array_equal(risk, whole_risk)
    assert slim.as_dict() == whole.as_dict()
