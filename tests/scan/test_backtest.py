"""The backtest harness: labels from what customers did next, and the grades of a score."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import backtest
from winback.scan.features import customer_features
from winback.scan.lapse import classify

AS_OF = date(2024, 6, 30)
CUTOFF = AS_OF - timedelta(days=90)  # 2024-04-01: the newest cutoff, its horizon passed


def _ledger(tmp_path: Path, orders: list[str]) -> Ledger:
    ledger = Ledger(tmp_path / "ledger")
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,order_date,amount,status\n" + "\n".join(orders) + "\n")
    import_file(ledger, "orders", path, rejects_dir=tmp_path / "rejects")
    return ledger


def _labels(ledger: Ledger, cutoff: date) -> dict[str, int]:
    con = ledger.ibis()
    at = customer_features(con, cutoff, Policy()).to_pandas()
    after = customer_features(con, cutoff + timedelta(days=90), Policy()).to_pandas()
    active = at.loc[backtest.active_in_year(at)]
    y = backtest.lapse_labels(active, after, cutoff)
    return dict(zip(active["customer_id"], y.tolist(), strict=True))


def test_labels_are_what_each_customer_did_in_the_horizon_after_the_cutoff(
    tmp_path: Path,
) -> None:
    orders = [
        f"a{k},steady,{CUTOFF - timedelta(days=300) + timedelta(days=30 * k)},10,"
        for k in range(14)
    ]  # every 30 days, on past the cutoff: stays
    orders += [
        "b1,quiet,2024-03-15,10,",  # bought in the year before, nothing after: lapsed
        "c1,old,2022-05-01,10,",  # not active in the year before the cutoff: not labelled
        "d1,cancelled,2024-03-20,10,",
        "d2,cancelled,2024-05-10,10,cancelled",  # a cancelled order does not count: lapsed
        "e1,late,2024-06-30,10,",  # bought on the horizon's last day: stayed
        "e0,late,2023-12-01,10,",
        "f1,new,2024-05-01,10,",  # first order after the cutoff: not at the cutoff at all
        "g1,edge,2023-04-02,10,",  # 365 days before the cutoff: outside the year
    ]

    assert _labels(_ledger(tmp_path, orders), CUTOFF) == {
        "steady": 0,
        "quiet": 1,
        "cancelled": 1,
        "late": 0,
    }


def test_labels_ignore_the_scans_statuses_when_rules_and_reality_disagree(
    tmp_path: Path,
) -> None:
    # "burst" bought every 10 days for a year, then paused 60 days before the cutoff: six
    # of their cycles, which the rules call lapsed. They came back after it.
    orders = [f"r{k},burst,{CUTOFF - timedelta(days=60 + 10 * k)},10," for k in range(36)]
    orders.append(f"rb,burst,{CUTOFF + timedelta(days=20)},10,")
    # "regular" bought every 30 days, the last 5 days before the cutoff: active by every
    # rule. They never bought again.
    orders += [f"s{k},regular,{CUTOFF - timedelta(days=5 + 30 * k)},10," for k in range(12)]
    ledger = _ledger(tmp_path, orders)
    at = customer_features(ledger.ibis(), CUTOFF, Policy()).to_pandas()
    status = dict(zip(at["customer_id"], classify(at, CUTOFF, Policy())["status"], strict=True))

    assert status == {"burst": "lapsed", "regular": "active"}
    assert _labels(ledger, CUTOFF) == {"burst": 0, "regular": 1}


def test_a_subscriber_whose_contract_runs_has_stayed_without_ordering() -> None:
    at = pd.DataFrame(
        {
            "customer_id": ["yearly", "cancelled", "shopper"],
            "days_since_last_order": [200, 20, 20],
            "active_contracts": [1, 1, np.nan],
        }
    )
    after = pd.DataFrame(
        {
            "customer_id": ["yearly", "cancelled", "shopper"],
            "last_order_date": pd.to_datetime(["2023-09-14", "2024-04-20", "2024-03-12"]),
            "active_contracts": [1, 0, np.nan],
        }
    )

    # The yearly subscriber's contract still runs (stayed) though no order came in the
    # horizon; the other cancelled though they ordered once more; the shopper is graded
    # on orders alone.
    assert backtest.lapse_labels(at, after, CUTOFF).tolist() == [0, 1, 1]


def test_grades_are_the_hand_computed_auc_precision_recall_brier_and_reliability() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])

    g = backtest.grade(y, p, 0.5, probability=True)

    # Lapser above stayer in 3 of the 4 pairs; flagged 0.6 and 0.9, one of them a lapser.
    assert g["auc"] == pytest.approx(0.75)
    assert (g["flagged"], g["precision"], g["recall"]) == (2, 0.5, 0.5)
    assert g["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert backtest.reliability(y, p, bins=2) == [
        {"customers": 2, "predicted": 0.25, "observed": 0.5},
        {"customers": 2, "predicted": 0.75, "observed": 0.5},
    ]
    assert backtest.chance(y) == {"auc": 0.5, "base_rate": 0.5, "precision": 0.5, "brier": 0.25}


def test_a_score_without_probabilities_gets_no_brier_and_unknown_scores_are_counted() -> None:
    y = np.array([0, 1, 1, 0, 1])
    days = np.array([10.0, 120.0, 95.0, 100.0, np.nan])

    g = backtest.grade(y, days, 90.0, probability=False)

    assert (g["graded"], g["unscored"]) == (4, 1)
    assert g["auc"] == pytest.approx(0.75)  # 120 and 95 above 10; 95 below 100
    assert (g["precision"], g["recall"]) == (pytest.approx(2 / 3, abs=1e-4), 1.0)
    assert "brier" not in g


def test_cutoffs_step_back_one_horizon_at_a_time_from_the_scan() -> None:
    assert backtest.cutoffs(AS_OF, 90, 3) == [
        date(2024, 4, 1),
        date(2024, 1, 2),
        date(2023, 10, 4),
    ]


def test_an_auc_leaves_out_unscored_rows_and_needs_both_classes() -> None:
    y = np.array([0, 0, 1, 1, 1])
    assert backtest.auc(y, np.array([0.1, 0.4, 0.35, 0.8, np.nan])) == 0.75
    assert backtest.auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_the_ranking_graded_on_a_longer_stay_away_is_printed_beside_chance() -> None:
    from winback.cli.output import stayed_away_lines

    graded = {
        "window_days": 180,
        "graded_on": "2026-01-01",
        "test_rows": 2345,
        "base_rate": 0.31,
        "auc": {"lapse_risk": 0.8312, "not_alive": 0.8, "days_since_last_order": None},
    }
    lines = stayed_away_lines(graded)
    assert "180 days after 2026-01-01" in lines[0]
    assert "2,345 customers" in lines[0]
    assert "lapse risk" in lines[1]
    assert "AUC 0.831" in lines[1]
    assert "not graded" in lines[3]
    assert lines[-1].split() == ["chance", "AUC", "0.500", "(base", "rate", "0.31)"]
    skipped = stayed_away_lines({"window_days": 180, "problem": "too little history"})
    assert skipped == ["ranking of who stays away 180 days: not graded (too little history)"]
    assert stayed_away_lines({}) == []
