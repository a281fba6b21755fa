"""How right the scan is about a business whose truth is known (the simulator).

Simulates a retail business, imports it, and scans it once a month over its last year.
Against the ground truth (``truth/customers_truth.parquet``, which no scan reads):

- alerts: precision and recall of "not active" at the last scan, where the truth is
  "has decided to leave by the scan date"; the anchor is the plain "no purchase in
  6 months" rule measured on the same customers in the same run;
- lead time: for customers who truly lapsed during the year, days between the first monthly
  scan that flagged them and the true lapse date (positive: flagged ahead of the lapse);
- intangibles: measured by benchmarks/accuracy_intangibles.py;
- keeper decisions: the true yearly value and true best win-back chance of customers the
  scan says to pursue, not to pursue and let go.

``--backtest`` measures instead the backtest harness (scan/backtest.py) on each profile at
its default size and seed (``winback simulate --profile X``): scans as of one and two
horizons before the end, and prints each score's self-reported AUC (graded by the harness
inside the scan, on the horizon before the scan) beside its AUC on what the customers then
did in the horizon after the scan (data the scan never saw) and against the simulator's
truth ("truly stopped buying by the horizon's end": ``lapse_date``), among the customers
active in the year before the scan.

    uv run python benchmarks/accuracy_simulated.py [--customers 4000] [--seed 11]
    uv run python benchmarks/accuracy_simulated.py --backtest [--profiles retail b2b]
"""

from __future__ import annotations

import argparse
import tempfile
import time
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
from winback.scan import backtest
from winback.scan.features import customer_features
from winback.scan.pipeline import run_scan
from winback.scan.subscriptions import subscription_features
from winback.simulate.run import simulate

END = date(2026, 6, 30)


def _precision_recall(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flag & truth))
    return hits / max(float(flag.sum()), 1.0), hits / max(float(truth.sum()), 1.0)


SCORES = {
    "follow_suit": "follow_suit_probability",
    "not_alive": "p_alive",
    "days_since_last_order": "days_since_last_order",
}


def _frame_at(ledger: Ledger, day: date, policy: Policy) -> pd.DataFrame:
    con = ledger.ibis()
    frame = customer_features(con, day, policy).to_pandas()
    if ledger.manifest().segments("subscriptions"):
        frame = frame.merge(subscription_features(con, day), on="customer_id", how="left")
    return frame


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    known = ~np.isnan(score)
    return float(roc_auc_score(y[known], score[known]))


def measure_backtest(profile: str, customers: int, seed: int, work: Path) -> None:
    """Self-reported AUCs beside the AUCs on the next horizon and against the truth."""
    policy = Policy()
    horizon = policy.lapse.follow_suit_window_days
    simulate(profile, customers, 36, seed, work / "sim", "parquet")
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    lapse_date = pd.to_datetime(truth.set_index("customer_id")["lapse_date"])
    print(f"\n{profile}: {customers:,} customers, seed {seed}")
    print(f"  {'as of':10s} {'score':22s} {'self':>6s} {'next':>6s} {'truth':>6s}  base rates")
    for k in (2, 1):
        as_of = END - timedelta(days=horizon * k)
        run = run_scan(ledger, work / "runs", policy, as_of=as_of)
        bt = run.info.backtest
        scan = run.customers().to_pandas()
        frame = _frame_at(ledger, as_of, policy).set_index("customer_id")
        frame = frame.reindex(scan["customer_id"]).reset_index()
        active = backtest.active_in_year(frame)
        later = _frame_at(ledger, as_of + timedelta(days=horizon), policy)
        y_next = backtest.lapse_labels(frame.loc[active], later, as_of)
        ends = pd.Timestamp(as_of + timedelta(days=horizon))
        gone = lapse_date.reindex(scan["customer_id"][active]) <= ends
        y_truth = gone.fillna(False).to_numpy(dtype=np.int64)
        for name, column in SCORES.items():
            score = scan[column].to_numpy(dtype=np.float64)[active]
            if name == "not_alive":
                score = 1.0 - score
            own = bt.get("scores", {}).get(name, {}).get("auc")
            print(
                f"  {as_of!s:10s} {name:22s} {own if own is not None else float('nan'):6.3f} "
                f"{_auc(y_next, score):6.3f} {_auc(y_truth, score):6.3f}  "
                f"self {bt.get('base_rate')}, next {y_next.mean():.3f}, "
                f"truth {y_truth.mean():.3f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--months", type=int, default=12, help="monthly scans over this many")
    parser.add_argument("--backtest", action="store_true", help="grade the harness itself")
    parser.add_argument("--profiles", nargs="+", default=["retail", "b2b", "subscription"])
    args = parser.parse_args()
    if args.backtest:
        for profile in args.profiles:
            with tempfile.TemporaryDirectory(prefix=f"winback-backtest-{profile}-") as tmp:
                measure_backtest(profile, 3000, 0, Path(tmp))
        return
    with tempfile.TemporaryDirectory(prefix="winback-accuracy-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        simulate("retail", args.customers, 48, args.seed, work / "sim", "parquet")
        ledger = Ledger(work / "ledger")
        for name in TABLES:
            for path in sorted((work / "sim").glob(f"{name}.*")):
                import_file(ledger, name, path, rejects_dir=work / "rejects")
        truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
        truth = truth.set_index("customer_id")
        print(
            f"simulated and imported {args.customers:,} customers in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )

        first_flag: dict[str, date] = {}
        last = None
        for k in range(args.months, -1, -1):
            as_of = END - timedelta(days=round(30.44 * k))
            run = run_scan(ledger, work / "runs", Policy(), as_of=as_of)
            rows = run.customers(["customer_id", "status"]).to_pandas()
            for cid in rows.loc[rows.status != "active", "customer_id"]:
                first_flag.setdefault(cid, as_of)
            print(f"  scan as of {as_of}: {run.info.counts}", flush=True)
            last = run
        assert last is not None
        scan = last.customers().to_pandas().set_index("customer_id")
        t = truth.reindex(scan.index)
        decided = pd.to_datetime(t["decided_on"])
        gone_truth = (decided <= pd.Timestamp(END)).fillna(False).to_numpy()
        flagged = (scan["status"] != "active").to_numpy()
        days_quiet = scan["days_since_last_order"].to_numpy()
        anchor = days_quiet >= 6 * 30.44
        p, r = _precision_recall(flagged, gone_truth)
        ap, ar = _precision_recall(anchor, gone_truth)
        print(f"\nalerts as of {END} ({int(gone_truth.sum()):,} of {len(scan):,} truly leaving)")
        print(f"  scan (not active):        precision {p:.3f}  recall {r:.3f}")
        print(f"  anchor (6 months quiet):  precision {ap:.3f}  recall {ar:.3f}")
        print(f"  ratio scan/anchor recall: {r / max(ar, 1e-9):.2f}x")

        lapse = pd.to_datetime(t["lapse_date"])
        year_start = pd.Timestamp(END - timedelta(days=round(30.44 * args.months)))
        in_year = (lapse > year_start) & (lapse <= pd.Timestamp(END))
        leads = []
        for cid in scan.index[in_year.fillna(False).to_numpy()]:
            if cid in first_flag:
                leads.append((lapse[cid] - pd.Timestamp(first_flag[cid])).days)
        caught = len(leads) / max(int(in_year.sum()), 1)
        if leads:
            print(
                f"\nlead time over {int(in_year.sum()):,} true lapses in the year: flagged "
                f"{caught:.0%}; median {np.median(leads):.0f} days ahead of the true lapse "
                f"(quartiles {np.percentile(leads, 25):.0f} to {np.percentile(leads, 75):.0f})"
            )

        # Intangibles against the truth: benchmarks/accuracy_intangibles.py.

        offers = [c for c in t.columns if c.startswith("p_return_")]
        best = t[offers].max(axis=1)
        print("\nkeeper decisions against the truth (means over the customers in each group)")
        for decision in ("pursue", "dont_pursue", "let_go"):
            mask = (scan["decision"] == decision).to_numpy()
            if mask.any():
                print(
                    f"  {decision:12s} {int(mask.sum()):6,} customers: true value/year "
                    f"{t['value_per_year'][mask].mean():8.2f}, true best win-back chance "
                    f"{best[mask].mean():.3f}"
                )
        listed = scan["rank"].notna().to_numpy()
        truth_ev = (best * t["value_per_year"]).to_numpy()
        if listed.sum() > 2:
            rho = pd.Series(scan["expected_value"].to_numpy()[listed]).corr(
                pd.Series(truth_ev[listed]), method="spearman"
            )
            print(f"  rank correlation of expected value with true value x chance: {rho:.3f}")


if __name__ == "__main__":
    main()
