"""The lapse-risk model: the sample of a big backtest, the slipping threshold, its
calibration, and its AUC against the truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from winback.ledger.contract import COUNTED_ORDER_STATUSES, TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import backtest, follow_suit, pipeline
from winback.scan.drivers import with_drivers
from winback.scan.features import customer_features
from winback.scan.follow_suit import (
    TRAIN_CUTOFFS,
    backtest_and_score,
    cross_calibrated,
    fit_sample,
    gone_window,
    platt,
    required_precision,
    slipping_threshold,
)
from winback.scan.pipeline import run_scan
from winback.simulate.run import simulate

END = date(2026, 6, 30)  # the simulator's default end


def _simulated(profile: str, customers: int, tmp_path: Path) -> Ledger:
    """A simulated business (36 months, seed 0) imported into a ledger under ``tmp_path``."""
    simulate(profile, customers, 36, 0, tmp_path / "sim", "parquet")
    ledger = Ledger(tmp_path / "ledger")
    for name in TABLES:
        for path in sorted((tmp_path / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=tmp_path / "rejects")
    return ledger


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
    ledger = _simulated("b2b", 1500, tmp_path)
    as_of = END - timedelta(days=90)

    run = run_scan(ledger, tmp_path / "runs", Policy(), as_of=as_of)

    scan = run.customers(["customer_id", "days_since_last_order", "follow_suit_probability"])
    rows = scan.to_pandas()
    rows = rows[rows["days_since_last_order"] < 365]
    truth = pq.read_table(tmp_path / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    lapse = pd.to_datetime(truth.set_index("customer_id")["lapse_date"])
    gone = (lapse.reindex(rows["customer_id"]) <= pd.Timestamp(END)).fillna(False).to_numpy()
    against_truth = roc_auc_score(gone, rows["follow_suit_probability"])
    reported = run.info.backtest["scores"]["lapse_risk"]["auc"]
    assert run.info.classifier["auc"] == reported
    assert abs(reported - against_truth) <= 0.05, (reported, against_truth)
    # The ranking graded on a longer stay away reads closer to who truly stopped, and its
    # procedure learned nothing after the date it is graded at.
    stayed = run.info.backtest["stayed_away"]
    assert abs(stayed["auc"]["lapse_risk"] - against_truth) <= 0.03, (stayed, against_truth)
    graded_on = date.fromisoformat(stayed["graded_on"])
    assert graded_on + timedelta(days=stayed["window_days"]) == as_of
    learned = timedelta(days=stayed["learned_window_days"])
    assert len(stayed["cutoffs"]) >= 2
    assert all(date.fromisoformat(c) + learned <= graded_on for c in stayed["cutoffs"])


def test_a_nine_month_ledger_learns_from_two_cutoffs() -> None:
    # CDNOW's cohort first bought in January 1997; a scan as of 30 September 1997 holds out
    # 2 July. Two training cutoffs a month apart (3 April and 4 March) have 60 days of
    # orders before them; a third (2 February) would not.
    today = pd.DataFrame({"first_order_date": pd.to_datetime(["1997-01-01", "1997-03-31"])})
    window, cutoffs = gone_window(today, date(1997, 7, 2), 90)
    assert window == 90
    assert cutoffs == [date(1997, 4, 3), date(1997, 3, 4)]
    # A ledger a year longer reaches the longest window with all four cutoffs.
    older = today.assign(first_order_date=today["first_order_date"] - pd.Timedelta(days=365))
    window, cutoffs = gone_window(older, date(1997, 7, 2), 90)
    assert window == 330
    assert len(cutoffs) == 4


def test_the_slipping_threshold_is_the_deepest_cut_that_meets_the_precision() -> None:
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0])
    # Flagging from the top: precision 1, 1, 2/3, 3/4, 3/5, 1/2.
    assert slipping_threshold(y, risk, 0.75) == 0.6
    assert slipping_threshold(y, risk, 0.6) == 0.5
    assert slipping_threshold(y, risk, 0.99) == 0.8
    # No cut reaches it: only the riskiest customer would be flagged.
    assert slipping_threshold(np.array([0, 0, 1]), np.array([0.9, 0.5, 0.1]), 0.9) == 0.9


def test_platt_scaling_turns_overconfident_scores_into_the_observed_rates() -> None:
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.05, 0.95, 20_000)
    y = (rng.uniform(size=true_p.size) < true_p).astype(np.int64)
    # An overconfident model: the right order, log-odds three times too large.
    logit = np.log(true_p / (1 - true_p))
    raw = 1 / (1 + np.exp(-3 * logit))
    calibrated = platt(raw, y)(raw)
    assert np.argsort(calibrated, kind="stable").tolist() == np.argsort(raw, kind="stable").tolist()
    assert np.mean(np.abs(calibrated - true_p)) < 0.02
    assert np.mean(np.abs(raw - true_p)) > 0.05
    crossed = cross_calibrated(raw, y)
    assert np.mean((crossed - y) ** 2) < np.mean((raw - y) ** 2)


def test_the_lapse_risk_is_calibrated_on_what_customers_then_did(tmp_path: Path) -> None:
    # A small retail business scanned one horizon before the simulated end: the mean risk
    # of the customers active in the year must match the share who really placed no
    # counted order in the next 90 days (read from the ledger, which the scan did not see
    # past its date), and its Brier score beat the base rate's.
    ledger = _simulated("retail", 800, tmp_path)
    as_of = END - timedelta(days=90)

    run = run_scan(ledger, tmp_path / "runs", Policy(), as_of=as_of)

    rows = run.customers(["customer_id", "days_since_last_order", "lapse_risk", "status"])
    scan = rows.to_pandas()
    orders = pq.read_table(tmp_path / "sim" / "orders.parquet").to_pandas()
    counted = orders[orders["status"].isna() | orders["status"].isin(COUNTED_ORDER_STATUSES)]
    dates = pd.to_datetime(counted["order_date"])
    later = counted[(dates > pd.Timestamp(as_of)) & (dates <= pd.Timestamp(END))]
    active = scan[scan["days_since_last_order"] < 365]
    lapsed = (~active["customer_id"].isin(later["customer_id"])).to_numpy(dtype=np.float64)
    risk = active["lapse_risk"].to_numpy(dtype=np.float64)
    assert not np.isnan(risk).any()
    assert abs(risk.mean() - lapsed.mean()) <= 0.05, (risk.mean(), lapsed.mean())
    base = lapsed.mean()
    assert np.mean((risk - lapsed) ** 2) < base * (1 - base)
    # Slipping means a risk well above the base rate; the threshold is in run.json.
    threshold = run.info.backtest["slipping_threshold"]
    assert threshold > run.info.backtest["base_rate"]
    slipping = scan[scan["status"] == "slipping"]
    assert (slipping["lapse_risk"] >= threshold).all()
    assert len(slipping) > 0


def test_slipping_needs_a_precision_well_above_the_base_rate() -> None:
    assert required_precision(0.65, np.array([1, 0, 0, 0])) == 0.65  # base 0.25: 0.625
    assert required_precision(0.65, np.array([1, 1, 1, 1, 0])) == 0.9  # base 0.8


def _driver_world(n: int = 3000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers who order every 30 days from their start until they stop. A third of them
    met a risk driver (bought a faulty line, say): they stop after 150 days on average,
    the rest after 900. Returns each customer's start and stop day, and who met it."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 1200, n), unit="D")
    met = rng.random(n) < 1 / 3
    life = rng.exponential(np.where(met, 150.0, 900.0))
    stop = start + pd.to_timedelta(life.round(), unit="D")
    world = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(n)], "start": start})
    world["stop"] = stop
    return world, met


def _frame_on(world: pd.DataFrame, day: date) -> pd.DataFrame:
    """The feature frame a scan would read at ``day``: every order is 30 days apart, so the
    customers differ only in when they last ordered and how often they have."""
    cut = pd.Timestamp(day)
    begun = world[world["start"] <= cut]
    end = begun["stop"].where(begun["stop"] < cut, cut)
    purchases = ((end - begun["start"]).dt.days // 30 + 1).astype("int64")
    last = begun["start"] + pd.to_timedelta((purchases - 1) * 30, unit="D")
    return pd.DataFrame(
        {
            "customer_id": begun["customer_id"],
            "segment": "all",
            "first_order_date": begun["start"],
            "last_order_date": last,
            "days_since_last_order": (cut - last).dt.days,
            "purchases": purchases,
            "own_interval_days": np.where(purchases > 1, 30.0, np.nan),
            "revenue": purchases * 10.0,
            "revenue_recent": 0.0,
            "revenue_prior": 0.0,
            "p_alive": 0.5,
            "expected_purchases": 1.0,
        }
    ).reset_index(drop=True)


def test_a_risk_driver_met_raises_the_lapse_risk_of_like_customers_without_leakage() -> None:
    # A hand-made world: customers identical in everything the model reads but the risk
    # driver they met. The model must learn the driver from past cutoffs (where exposure
    # came with earlier stops) and give today's exposed customers the higher risk, and it
    # may ask for the drivers only at cutoffs whose data it is allowed to see.
    world, met = _driver_world()
    exposed = set(world["customer_id"][met])
    as_of = date(2026, 6, 30)
    asked: list[date] = []

    def drivers_at(cutoff: date) -> pd.DataFrame:
        asked.append(cutoff)
        ids = sorted(exposed)
        return pd.DataFrame(
            {
                "driver_lapse_ratio": 3.0,
                "drivers_met": 1,
                "risk_driver": "bought X",
                "risk_driver_line": "X",
            },
            index=pd.Index(ids, name="customer_id"),
        )

    today = with_drivers(_frame_on(world, as_of), drivers_at(as_of))
    asked.clear()
    risk, result = backtest_and_score(
        lambda d: _frame_on(world, d), today, as_of, Policy(), drivers_at=drivers_at
    )
    assert result.problem is None, result.problem
    held_out = as_of - timedelta(days=Policy().lapse.follow_suit_window_days)
    assert asked
    assert max(asked) == held_out
    # The cutoffs learned from and graded, and those of the ranking graded on a longer stay
    # away (all before the held-out one).
    stayed = result.stayed_away
    graded = {*result.cutoffs, *stayed.get("cutoffs", []), stayed["graded_on"]}
    assert set(asked) == {date.fromisoformat(c) for c in graded}

    # Like customers: ordered in the last 30 days, at least three purchases so far.
    fresh = (today["days_since_last_order"] < 30) & (today["purchases"] >= 3)
    is_met = today["customer_id"].isin(exposed)
    risk_met = risk[(fresh & is_met).to_numpy()]
    risk_not = risk[(fresh & ~is_met).to_numpy()]
    assert len(risk_met) > 50
    assert len(risk_not) > 200
    # By hand: the chance of stopping before the next order (within 30 days) is about
    # 1 - exp(-30/150) = 0.18 for those who met it, 1 - exp(-30/900) = 0.03 for the rest.
    assert risk_met.mean() > 2 * risk_not.mean()
    assert 0.08 < risk_met.mean() < 0.35
    assert risk_not.mean() < 0.08

    # Without the drivers the model can tell them apart only by what comes with exposure
    # (shorter lives, so fewer purchases): far less.
    blind, _ = backtest_and_score(
        lambda d: _frame_on(world, d), _frame_on(world, as_of), as_of, Policy()
    )
    gap = risk_met.mean() - risk_not.mean()
    blind_gap = (
        blind[(fresh & is_met).to_numpy()].mean() - blind[(fresh & ~is_met).to_numpy()].mean()
    )
    assert blind_gap < gap / 2, (blind_gap, gap)


def test_older_training_cutoffs_are_not_read_once_the_newer_fill_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _simulated("retail", 800, tmp_path)
    as_of = END - timedelta(days=90)
    read: list[date] = []
    frames = pipeline.CutoffQueries.arrow  # each past cutoff's feature frame

    def counted(queries: Any, cutoff: date) -> Any:
        read.append(cutoff)
        return frames(queries, cutoff)

    monkeypatch.setattr(pipeline.CutoffQueries, "arrow", counted)
    whole = run_scan(ledger, tmp_path / "runs", Policy(), as_of=as_of).info.backtest
    assert len(whole["cutoffs"]) == 1 + TRAIN_CUTOFFS  # a few hundred rows: every cutoff
    everything = len(read)
    read.clear()
    # Rows enough to fill the sample from the two newest: the older two are not read.
    monkeypatch.setattr(follow_suit, "ENOUGH_TRAIN_ROWS", 1)
    newest = run_scan(ledger, tmp_path / "runs", Policy(), as_of=as_of).info.backtest
    assert newest["cutoffs"] == whole["cutoffs"][-3:]
    # The backtest skips its two oldest training cutoffs, and the stayed-away grade (its
    # own cutoffs, 180 days further back) stops at its two newest too.
    assert len(newest["stayed_away"]["cutoffs"]) == 2 < len(whole["stayed_away"]["cutoffs"])
    assert len(read) <= everything - 3, (len(read), everything)
    assert newest["train_rows"] < whole["train_rows"]


def test_learnable_columns_are_those_with_two_distinct_known_values() -> None:
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "spread": rng.normal(size=n),
            "constant": np.full(n, 2.5),
            "unknown": np.full(n, np.nan),
            "one_known": np.where(np.arange(n) == 7, 1.0, np.nan),
            "two_known": np.where(np.arange(n) % 100 == 0, np.arange(n), np.nan),
            "constant_with_gaps": np.where(np.arange(n) % 3 == 0, np.nan, -1.0),
            "infinite": np.full(n, np.inf),
            "inf_and_number": np.where(np.arange(n) % 2 == 0, np.inf, 0.0),
            "both_infinities": np.where(np.arange(n) % 2 == 0, np.inf, -np.inf),
        }
    ).astype(np.float32)
    by_count = [c for c in frame.columns if frame[c].nunique(dropna=True) >= 2]
    assert follow_suit.learnable_columns(frame) == by_count
    assert by_count == ["spread", "two_known", "inf_and_number", "both_infinities"]
    # A frame not all numbers is counted column by column.
    mixed = frame.assign(label=np.where(np.arange(n) % 2 == 0, "a", "b"))
    assert follow_suit.learnable_columns(mixed) == [*by_count, "label"]


def test_todays_customers_scored_in_chunks_get_the_inputs_of_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A simulated retail business's feature frame, scored 97 rows at a time: every chunk's
    # inputs must be the rows of the inputs built for all active customers at once (as
    # before), the typical interval's segment medians included.
    ledger = _simulated("retail", 800, tmp_path)
    con = ledger.ibis()
    as_of = pipeline.default_as_of(con)
    policy = Policy()
    today = pipeline.feature_frame(customer_features(con, as_of, policy))
    now = backtest.active_in_year(today)
    assert 300 < now.sum() < len(today)
    whole = follow_suit.model_matrix(today.loc[now], as_of, policy)
    chunks: list[pd.DataFrame] = []

    def scored(x: pd.DataFrame) -> np.ndarray:
        chunks.append(x)
        return x["cycle_ratio"].to_numpy()

    monkeypatch.setattr(follow_suit, "SCORE_CHUNK", 97)
    out = follow_suit.score_today(today, now, as_of, policy, scored)

    assert len(chunks) == -(-int(now.sum()) // 97)
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert np.array_equal(out, whole["cycle_ratio"].to_numpy(), equal_nan=True)
