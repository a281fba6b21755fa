"""The models inside a scan agree with the models fitted on their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger
from winback.models import ModifiedBetaGeoModel
from winback.models.data import summarise_transactions
from winback.policy import Policy
from winback.scan import modelling
from winback.scan.features import customer_days, customer_features, purchase_summary
from winback.scan.modelling import ModelReport, _choose, holdout_start, predict, signals, with_model
from winback.scan.pipeline import default_as_of, feature_frame, run_scan


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("cdnow-scan")
    ledger = Ledger(tmp / "ledger")
    import_preset(ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz", rejects_dir=tmp)
    # The model named (the choice by holdout fit is tested in tests/models).
    policy = Policy.model_validate({"models": {"repeat_model": "mbg_nbd"}})
    return run_scan(ledger, tmp / "runs", policy)


def test_scan_fits_its_model_equal_to_a_fit_on_the_independent_summary(cdnow_run) -> None:  # type: ignore[no-untyped-def]
    raw = pd.read_csv(
        EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz",
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "value"],
        dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    summary = summarise_transactions(raw, "master_id", "date", "1998-06-30", unit="weeks")
    direct = ModifiedBetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])

    report = cdnow_run.info.models
    assert report["repeat_model"] == "mbg_nbd"
    assert report["fitted"] is True
    assert report["customers"] == 2357
    for name, value in direct.params_.items():
        assert report["params"][name] == pytest.approx(value, rel=1e-4), name


def test_model_signals_reach_the_statuses_and_reasons(cdnow_run) -> None:  # type: ignore[no-untyped-def]
    rows = cdnow_run.customers().to_pandas()
    assert rows["p_alive"].between(0, 1).all()
    assert (rows["expected_purchases"] >= 0).all()
    assert (rows["predicted_value"] >= 0).all()
    lost = rows[rows.status == "lost"]
    assert len(lost) > 0
    # Lost is either 18 months silent or lapsed with P(alive) under the policy's 0.1.
    assert ((lost.p_alive < 0.1) | (lost.days_since_last_order >= 18 * 30.44)).all()
    assert any("P(alive)" in " ".join(r) for r in rows["reasons"])
    # A customer the model thinks more alive is expected to buy more.
    corr = np.corrcoef(rows["p_alive"], rows["expected_purchases"])[0, 1]
    assert corr > 0.3


@pytest.fixture(scope="module")
def cdnow_frames(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """CDNOW's feature frame as of its last order, and the purchase summary as of the
    models' holdout start."""
    tmp = tmp_path_factory.mktemp("cdnow-frames")
    ledger = Ledger(tmp / "ledger")
    import_preset(ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz", rejects_dir=tmp)
    con = ledger.ibis()
    as_of = default_as_of(con)
    policy = Policy()
    days = customer_days(con.table("orders"))
    features = feature_frame(customer_features(con, as_of, policy, days))
    cutoff = holdout_start(as_of, policy)
    assert cutoff is not None
    return features, feature_frame(purchase_summary(days, cutoff)), as_of


def test_the_signals_at_a_past_cutoff_are_the_full_predictions(cdnow_frames) -> None:  # type: ignore[no-untyped-def]
    features, _, as_of = cdnow_frames
    for name in ("mbg_nbd", "pareto_nbd"):
        policy = with_model(Policy(), name)
        full, _report = predict(features, as_of, policy)
        quick = signals(features, as_of, policy)
        assert list(quick.columns) == ["p_alive", "expected_purchases"]
        assert np.array_equal(quick.to_numpy(), full[list(quick.columns)].to_numpy()), name
        assert quick.notna().all().all()


def test_the_choice_on_a_sample_is_the_same_sample_every_scan(  # type: ignore[no-untyped-def]
    cdnow_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, calibration, as_of = cdnow_frames
    whole = ModelReport(repeat_model="auto")
    _choose(features, as_of, Policy(), calibration, whole)
    assert "sampled_from" not in whole.choice
    assert whole.choice["customers"] == len(calibration)

    monkeypatch.setattr(modelling, "CHOICE_CUSTOMERS", 1_500)
    part = ModelReport(repeat_model="auto")
    chosen = _choose(features, as_of, Policy(), calibration, part)
    assert part.choice["chosen"] == chosen
    assert part.choice["customers"] == 1_500
    assert part.choice["sampled_from"] == len(calibration)
    assert f"a random sample of the {len(calibration)}" in part.choice["reason"]
    # Each candidate's error on the sample is near its error on all the customers (on
    # CDNOW the best two are within 0.001 of each other: benchmarks/choice_sample.py
    # checks the choice itself on bigger ledgers).
    for name, c in whole.choice["candidates"].items():
        assert part.choice["candidates"][name]["mae"] == pytest.approx(c["mae"], rel=0.1)
    # The same sample whatever order the engine returned the customers in.
    shuffled = calibration.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = ModelReport(repeat_model="auto")
    _choose(features, as_of, Policy(), shuffled, again)
    assert again.choice["candidates"] == part.choice["candidates"]
