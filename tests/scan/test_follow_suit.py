"""The follow-suit classifier: the sample of a big backtest, and its AUC against the truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.follow_suit import fit_sample
from winback.scan.pipeline import run_scan
from winback.simulate.run import simulate

END = date(2026, 6, 30)  # the simulator's default end


def test_a_small_backtest_is_fitted_whole() -> None:
    assert fit_sample(np.array([0, 1, 0, 1]), 4, seed=0) is None


def test_a_big_backtest_is_sampled_keeping_the_lapse_rate_and_the_order() -> None:
    y = np.zeros(10_000, dtype=np.int64)
    y[::10] = 1  # a lapse rate of 10%
    rows = fit_sample(y, 1_000, seed=0)
    assert rows is not None
    assert len(rows) == 1_000
    assert int(y[rows].sum()) == 100
    assert np.all(np.diff(rows) > 0)  # distinct rows, in their order
    assert np.array_equal(rows, fit_sample(y, 1_000, seed=0))  # the same every scan


def test_a_rare_class_keeps_enough_rows_to_learn_from() -> None:
    y = np.zeros(100_000, dtype=np.int64)
    y[:30] = 1
    rows = fit_sample(y, 1_000, seed=0)
    assert rows is not None
    assert int(y[rows].sum()) == 20
    assert len(rows) == 1_020


def test_the_self_reported_auc_is_within_005_of_the_auc_against_the_simulators_truth(
    tmp_path: Path,
) -> None:
    # A small b2b business; the scan stops one horizon before the simulated end, so the
    # truth can say who had truly stopped buying by the end of the horizon it predicts.
    simulate("b2b", 800, 36, 0, tmp_path / "sim", "parquet")
    ledger = Ledger(tmp_path / "ledger")
    for name in TABLES:
        for path in sorted((tmp_path / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=tmp_path / "rejects")
    as_of = END - timedelta(days=90)

    run = run_scan(ledger, tmp_path / "runs", Policy(), as_of=as_of)

    scan = run.customers(["customer_id", "days_since_last_order", "follow_suit_probability"])
    rows = scan.to_pandas()
    rows = rows[rows["days_since_last_order"] < 365]
    truth = pq.read_table(tmp_path / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    lapse = pd.to_datetime(truth.set_index("customer_id")["lapse_date"])
    gone = (lapse.reindex(rows["customer_id"]) <= pd.Timestamp(END)).fillna(False).to_numpy()
    against_truth = roc_auc_score(gone, rows["follow_suit_probability"])
    reported = run.info.backtest["scores"]["follow_suit"]["auc"]
    assert run.info.classifier["auc"] == reported
    assert abs(reported - against_truth) <= 0.05, (reported, against_truth)
