"""The backtest's past feature query compiled once (``scan/cutoff_sql.py``): each later
cutoff's SQL, the first's with its dates moved, is the very text Ibis compiles there and
gives the same rows; a query whose literals do not move with the cutoff is compiled at
every cutoff."""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import pyarrow as pa

from tests.scan import test_customer_days
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import features as f
from winback.scan.cutoff_sql import CutoffQueries, moved
from winback.scan.pipeline import default_as_of

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
