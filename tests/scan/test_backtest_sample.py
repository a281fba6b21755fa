"""The backtest on a sample of customers (issue 16, ``scan/sample.py``).

Above ``BACKTEST_CUSTOMERS``, every past cutoff the lapse risk's backtest reads (feature
frames, label-only frames, the risk drivers met) covers only a fixed random sample of
today's customers, while today's customers are all scored. Here the cap is set low on a
small simulated retail ledger.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.cli.output import backtest_lines
from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import pipeline, sample
from winback.scan.runs import ScanRun
from winback.scan.sample import customer_sample
from winback.simulate.run import simulate

CUSTOMERS = 3000
CAP = 1500


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    tmp = tmp_path_factory.mktemp("sample")
    simulate("retail", CUSTOMERS, 36, 5, tmp / "sim", "parquet")
    stored = Ledger(tmp / "ledger")
    for name in TABLES:
        for path in sorted((tmp / "sim").glob(f"{name}.*")):
            import_file(stored, name, path, rejects_dir=tmp / "rejects")
    return stored


@pytest.fixture(scope="module")
def whole(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> ScanRun:
    """The scan with every customer read at every cutoff (the default cap is far above)."""
    return pipeline.run_scan(ledger, tmp_path_factory.mktemp("whole"), Policy())


Seen = dict[str, list[set[str]]]


@pytest.fixture(scope="module")
def sampled(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanRun, Seen]:
    """The scan with the cap at ``CAP``, and the customers each past read returned."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _sampled_scan(ledger, tmp_path_factory.mktemp("sampled"), monkeypatch)


def _sampled_scan(
    ledger: Ledger, runs: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ScanRun, Seen]:
    monkeypatch.setattr(sample, "BACKTEST_CUSTOMERS", CAP)
    seen: Seen = {"features": [], "labels": [], "drivers": []}
    real = pipeline.backtest_and_score

    def recording(*args: Any, **kwargs: Any) -> Any:
        features_at, *rest = args
        labels_at, drivers_at = kwargs["labels_at"], kwargs["drivers_at"]

        def features(cutoff: date) -> pd.DataFrame:
            frame = features_at(cutoff)
            seen["features"].append(set(frame["customer_id"]))
            return frame  # type: ignore[no-any-return]

        def labels(cutoff: date) -> pd.DataFrame:
            frame = labels_at(cutoff)
            seen["labels"].append(set(frame["customer_id"]))
            return frame  # type: ignore[no-any-return]

        def drivers(cutoff: date) -> pd.DataFrame:
            frame = drivers_at(cutoff)
            seen["drivers"].append(set(frame.index))
            return frame  # type: ignore[no-any-return]

        given = kwargs | {"labels_at": labels, "drivers_at": drivers}
        return real(features, *rest, **given)

    monkeypatch.setattr(pipeline, "backtest_and_score", recording)
    return pipeline.run_scan(ledger, runs, Policy()), seen


def test_the_sample_is_the_same_whatever_order_the_ids_come_in() -> None:
    ids = pd.Series([f"C{i:05d}" for i in range(1000)])
    drawn = customer_sample(ids, cap=300)
    assert drawn is not None
    assert len(drawn) == 300
    assert len(set(drawn)) == 300
    assert list(drawn) == sorted(drawn)
    shuffled = ids.sample(frac=1.0, random_state=7)
    again = customer_sample(shuffled, cap=300)
    assert again is not None
    assert list(again) == list(drawn)
    # Another seed draws other customers: the draw is random, not the first 300.
    other = customer_sample(ids, cap=300, seed=1)
    assert other is not None
    assert list(other) != list(drawn)
    assert list(drawn) != sorted(ids)[:300]
    # At or below the cap: everyone is read.
    assert customer_sample(ids, cap=1000) is None


def test_above_the_cap_past_cutoffs_read_only_the_sample_and_today_is_all_scored(
    whole: ScanRun, sampled: tuple[ScanRun, Seen]
) -> None:
    run, seen = sampled
    table = run.customers().to_pandas()
    chosen = customer_sample(table["customer_id"], cap=CAP)
    assert chosen is not None
    drawn = set(chosen)
    assert len(seen["features"]) >= 3  # held out, two training cutoffs at least
    assert seen["labels"]
    assert seen["drivers"]
    for read in ("features", "labels", "drivers"):
        for customers in seen[read]:
            assert customers <= drawn, read
    # The feature frames hold most of the sample (everyone who had bought by the cutoff).
    assert max(len(c) for c in seen["features"]) > CAP * 0.7

    # Today: every customer is scored, as in the whole run.
    assert len(table) == len(whole.customers())
    active = (table["days_since_last_order"] < 365).to_numpy()
    assert active.sum() > CAP
    assert table["lapse_risk"][active].notna().all()
    outside = ~table["customer_id"].isin(drawn).to_numpy()
    assert table["lapse_risk"][active & outside].notna().sum() > 500

    backtest = run.info.backtest
    assert backtest["sampled_customers"] == CAP
    assert backtest["of_customers"] == len(table)
    assert whole.info.backtest["sampled_customers"] is None
    assert backtest["test_rows"] < whole.info.backtest["test_rows"]
    # What `winback scan` prints says so.
    said = backtest_lines(backtest)[0]
    assert f"active in the year before (of a sample of 1,500 of the {len(table):,})" in said
    assert "sample" not in backtest_lines(whole.info.backtest)[0]


def test_the_sampled_backtest_grades_the_lapse_risk_as_the_whole_one_does(
    whole: ScanRun, sampled: tuple[ScanRun, Seen]
) -> None:
    # Half of 3,000 customers: about a thousand held-out rows, so the AUC's own sampling
    # error is about 0.015; the tolerances are a few times that.
    run, _seen = sampled
    full, part = whole.info.backtest, run.info.backtest
    assert part["problem"] is None
    assert full["problem"] is None
    auc = (full["scores"]["lapse_risk"]["auc"], part["scores"]["lapse_risk"]["auc"])
    assert auc[0] > 0.7
    assert abs(auc[0] - auc[1]) < 0.05, auc
    assert abs(full["base_rate"] - part["base_rate"]) < 0.04
    lift = [b["scores"]["lapse_risk"]["top_decile_lift"] for b in (full, part)]
    assert abs(lift[0] - lift[1]) < 0.35, lift
    # Today's risks rank the customers much as the whole run's do.
    a, b = (r.customers().to_pandas()["lapse_risk"] for r in (whole, run))
    known = a.notna() & b.notna()
    assert np.corrcoef(a[known].rank(), b[known].rank())[0, 1] > 0.9
