"""Every cutoff's order features from one table by customer and day (issue 16).

The scan computes ``customer_days`` once and each date's features as filtered aggregates
over it. Here they are checked against a straightforward reference computed from the
orders themselves with pandas, at several cutoffs of a small simulated ledger; and a whole
scan must give the same lapse risks whether the backtest reads its label-only dates as
whole feature frames or as the last orders alone.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.ledger.contract import COUNTED_ORDER_STATUSES, TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import pipeline
from winback.scan.features import customer_days, customer_features, last_orders
from winback.scan.pipeline import default_as_of, feature_frame, run_scan
from winback.simulate.run import simulate


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    tmp = tmp_path_factory.mktemp("days")
    simulate("retail", 500, 36, 5, tmp / "sim", "parquet")
    stored = Ledger(tmp / "ledger")
    for name in TABLES:
        for path in sorted((tmp / "sim").glob(f"{name}.*")):
            import_file(stored, name, path, rejects_dir=tmp / "rejects")
    return stored


def _reference(orders: pd.DataFrame, as_of: date, policy: Policy) -> pd.DataFrame:
    """The order features at ``as_of``, one customer at a time, from the orders."""
    cut = pd.Timestamp(as_of)
    counted = orders["status"].isna() | orders["status"].isin(COUNTED_ORDER_STATUSES)
    o = orders[counted & (orders["order_date"] <= cut)]
    period = policy.lapse.volume_period_days
    window = cut - pd.Timedelta(days=round(365.25 * policy.worth.years))
    rows = []
    for customer, own in o.groupby("customer_id"):
        d, amount, margin = own["order_date"], own["amount"], own["margin"]

        def between(
            start: pd.Timestamp, end: pd.Timestamp, d: Any = d, amount: Any = amount
        ) -> float:
            return float(amount[(d > start) & (d <= end)].sum())

        days = np.sort(d.unique())
        gaps = np.diff(days).astype("timedelta64[D]").astype(float)
        in_window = d > window
        known = margin.notna() & in_window
        rows.append(
            {
                "customer_id": customer,
                "first_order_date": d.min(),
                "last_order_date": d.max(),
                "purchases": len(days),
                "orders": len(own),
                "revenue": float(amount.sum()),
                "first_day_revenue": float(amount[d == d.min()].sum()),
                "revenue_last_year": between(cut - pd.Timedelta(days=365), cut),
                "revenue_recent": between(cut - pd.Timedelta(days=period), cut),
                "revenue_prior": between(
                    cut - pd.Timedelta(days=2 * period), cut - pd.Timedelta(days=period)
                ),
                "revenue_year_ago": between(
                    cut - pd.Timedelta(days=365 + period), cut - pd.Timedelta(days=365)
                ),
                "margin_past_years": float(margin[known].sum())
                + float(amount[margin.isna() & in_window].sum()) * policy.worth.default_margin_rate,
                "days_since_last_order": (cut - d.max()).days,
                "own_interval_days": (d.max() - d.min()).days / (len(days) - 1)
                if len(days) > 1
                else np.nan,
                "longest_gap_days": gaps.max() if len(gaps) else np.nan,
                "last_gap_days": gaps[-1] if len(gaps) else np.nan,
                "purchases_half_year": int((days > cut - pd.Timedelta(days=182)).sum()),
                "purchases_half_year_before": int(
                    (
                        (days > cut - pd.Timedelta(days=364))
                        & (days <= cut - pd.Timedelta(days=182))
                    ).sum()
                ),
            }
        )
    return pd.DataFrame(rows).sort_values("customer_id").reset_index(drop=True)


def test_each_cutoffs_order_features_are_those_computed_from_the_orders(ledger: Ledger) -> None:
    con = ledger.ibis()
    policy = Policy()
    orders = ledger.connect().sql("SELECT * FROM orders").df()
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    # Some orders do not count (cancelled, refunded): the reference leaves them out too.
    assert (~orders["status"].isin(COUNTED_ORDER_STATUSES)).any()
    days = pipeline._kept(con, customer_days(con.table("orders")))
    as_of = default_as_of(con)
    checked = 0
    for back in (0, 90, 400, 800):
        cutoff = as_of - timedelta(days=back)
        want = _reference(orders, cutoff, policy)
        got = feature_frame(customer_features(con, cutoff, policy, days))
        got = got.sort_values("customer_id").reset_index(drop=True)
        # Computed within the expression when no cached table is given: the same.
        inline = feature_frame(customer_features(con, cutoff, policy))
        pd.testing.assert_frame_equal(
            inline.sort_values("customer_id").reset_index(drop=True), got, check_exact=True
        )
        assert got["customer_id"].tolist() == want["customer_id"].tolist()
        assert len(got) > 100
        for name in want.columns.drop("customer_id"):
            if pd.api.types.is_datetime64_any_dtype(want[name]):
                assert (got[name].to_numpy() == want[name].to_numpy()).all(), (back, name)
            else:
                np.testing.assert_allclose(
                    got[name].astype("float64").to_numpy(),
                    want[name].astype("float64").to_numpy(),
                    rtol=1e-9,
                    err_msg=f"{name} at {cutoff}",
                )
        # Gaps and trends are not all empty: the comparison has something to compare.
        assert got["last_gap_days"].notna().sum() > 50
        assert (got["last_gap_days"] != got["longest_gap_days"]).sum() > 10
        labels = last_orders(days, cutoff).to_pyarrow().to_pandas().sort_values("customer_id")
        assert labels["customer_id"].tolist() == want["customer_id"].tolist()
        assert (labels["days_since_last_order"].to_numpy() == want["days_since_last_order"]).all()
        checked += 1
    assert checked == 4
    folder = Path(pipeline._KEPT[days.get_name()].name)
    assert any(folder.iterdir())
    pipeline._release(con, days)
    assert not folder.exists()
    kept = con.con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [days.get_name()]
    )
    assert kept.fetchone() == (0,)


def test_the_lapse_risk_is_the_same_when_label_dates_are_read_as_last_orders_only(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = pipeline.backtest_and_score

    def counting(*args: Any, **kwargs: Any) -> Any:
        labels = kwargs["labels_at"]

        def labels_at(cutoff: date) -> pd.DataFrame:
            read.append(str(cutoff))
            return labels(cutoff)  # type: ignore[no-any-return]

        return original(*args, **(kwargs | {"labels_at": labels_at}))

    monkeypatch.setattr(pipeline, "backtest_and_score", counting)
    new = run_scan(ledger, tmp_path / "new", Policy())
    assert read, "the backtest read no date for its labels alone"

    def whole_frames(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **(kwargs | {"labels_at": None}))

    monkeypatch.setattr(pipeline, "backtest_and_score", whole_frames)
    old = run_scan(ledger, tmp_path / "old", Policy())
    assert new.info.backtest == old.info.backtest
    a, b = (r.customers().to_pandas() for r in (old, new))
    assert a["lapse_risk"].notna().sum() > 100
    np.testing.assert_allclose(a["lapse_risk"], b["lapse_risk"], rtol=1e-12)
    assert a["status"].tolist() == b["status"].tolist()
