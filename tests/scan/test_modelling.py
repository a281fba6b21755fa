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
from winback.scan.pipeline import run_scan


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
