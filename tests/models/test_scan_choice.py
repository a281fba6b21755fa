"""The scan's choice of repeat-purchase model, and BG/BB chosen by the policy, end to end
on the CDNOW sample (scan as of its last order, 1998-06-30)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.models.conftest import EXAMPLES, read_cdnow_sample

from winback.cli.output import model_line
from winback.errors import DegenerateFitWarning
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger
from winback.models import BetaGeoBetaBinomModel
from winback.models.data import calibration_holdout_summary, summarise_transactions
from winback.policy import Policy
from winback.scan.modelling import REPEAT_MODELS, bgbb_summaries
from winback.scan.pipeline import run_scan
from winback.scan.runs import ScanRun

AS_OF = "1998-06-30"
HOLDOUT_START = "1998-01-01"  # 180 days before, the policy's default holdout


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, Path]:
    tmp = tmp_path_factory.mktemp("models-choice")
    ledger = Ledger(tmp / "ledger")
    import_preset(ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz", rejects_dir=tmp)
    return ledger, tmp


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    # The scan knows customers by the master id (the sample id renumbers them).
    tx = read_cdnow_sample()
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


@pytest.fixture(scope="module")
def auto_run(ledger: tuple[Ledger, Path]) -> ScanRun:
    store, tmp = ledger
    return run_scan(store, tmp / "runs-auto", Policy())


def test_auto_choice_is_the_best_holdout_fit_and_says_why(
    auto_run: ScanRun, raw: pd.DataFrame
) -> None:
    report = auto_run.info.models
    choice = report["choice"]
    assert set(choice["candidates"]) == {"mbg_nbd", "bg_nbd", "pareto_nbd"}
    # The same comparison made independently: fit each candidate on the summary as of
    # the holdout's start, predict the 180 days, compare with what customers bought.
    summary = calibration_holdout_summary(
        raw, "master_id", "date", HOLDOUT_START, AS_OF, unit="weeks"
    )
    assert choice["customers"] == len(summary)
    actual = summary["frequency_holdout"].to_numpy()
    assert choice["actual_total"] == pytest.approx(actual.sum())
    errors = {}
    for name, cls in REPEAT_MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateFitWarning)
            model = cls().fit(summary["frequency_cal"], summary["recency_cal"], summary["T_cal"])
        predicted = model.conditional_expected_purchases(
            180 / 7, summary["frequency_cal"], summary["recency_cal"], summary["T_cal"]
        )
        errors[name] = float(np.mean(np.abs(predicted - actual)))
        assert choice["candidates"][name]["mae"] == pytest.approx(errors[name], rel=1e-4), name
    best = min(errors, key=lambda n: errors[n])
    assert choice["chosen"] == best
    assert report["repeat_model"] == best
    assert best in choice["reason"]
    assert f"{errors[best]:.4f}" in choice["reason"]
    # `winback scan` prints the model and the reason.
    assert model_line(report) == f"model: {best}, chosen because {choice['reason']}"
    # The chosen model is refitted on all the history.
    full = summarise_transactions(raw, "master_id", "date", AS_OF, unit="weeks")
    direct = REPEAT_MODELS[best]().fit(full["frequency"], full["recency"], full["T"])
    for name, value in direct.params_.items():
        assert report["params"][name] == pytest.approx(value, rel=1e-4), name


def test_a_named_model_skips_the_choice(ledger: tuple[Ledger, Path]) -> None:
    store, tmp = ledger
    policy = Policy.model_validate({"models": {"repeat_model": "pareto_nbd"}})
    report = run_scan(store, tmp / "runs-pnbd", policy).info.models
    assert report["repeat_model"] == "pareto_nbd"
    assert report["choice"] == {}
    assert report["fitted"] is True
    assert model_line(report) == "model: pareto_nbd, named by the policy"


def test_bgbb_is_selectable_end_to_end(ledger: tuple[Ledger, Path], raw: pd.DataFrame) -> None:
    store, tmp = ledger
    policy = Policy.model_validate({"models": {"repeat_model": "bg_bb", "opportunity_days": 7}})
    run = run_scan(store, tmp / "runs-bgbb", policy)
    report = run.info.models
    assert report["repeat_model"] == "bg_bb"
    assert report["fitted"] is True
    # The same fit from the raw transactions, in weekly opportunities from each first
    # purchase.
    days = raw.drop_duplicates(["master_id", "date"]).groupby("master_id")["date"]
    frame = pd.DataFrame(
        {
            "first_order_date": days.min(),
            "last_order_date": days.max(),
            "purchases": days.count(),
        }
    )
    x, t_x, n = bgbb_summaries(frame, AS_OF, 7)
    direct = BetaGeoBetaBinomModel().fit(x, t_x, n)
    for name, value in direct.params_.items():
        assert report["params"][name] == pytest.approx(value, rel=1e-4), name
    rows = run.customers().to_pandas()
    assert rows["p_alive"].between(0, 1).all()
    assert (rows["expected_purchases"] >= 0).all()
    # Its P(alive) is the model's own, customer by customer.
    mine = pd.Series(direct.conditional_probability_alive(x, t_x, n), index=frame.index)
    ids = rows["customer_id"].astype(str)
    assert rows["p_alive"].to_numpy() == pytest.approx(
        mine.rename(index=str).reindex(ids).to_numpy(), rel=1e-4, abs=1e-9
    )
