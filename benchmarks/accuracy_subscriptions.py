"""Subscribers judged by their contract: flags, desk cases and risk against the truth.

Simulates the subscription profile (``winback simulate --profile subscription``, default
size and seed), imports it and scans it twice at each of two dates (the end of the data
and one horizon before it): once as the scan runs, once with the contract step
(``scan.subscriptions.judge_contracts``) switched off, which is the scan as it was before
it. For the paying subscribers with a running contract at the scan date (a contract
started and not ended, no invoice past due and unpaid) it prints:

- how many are flagged lapsed/lost and slipping, before and after, and how many of the
  desk cases (rows a sync would open a case for: ranked, in a case tier) are theirs;
- the AUC of the contract's risk among them (as the scan computes it: learned from the
  ledger's history when that beat the sBG on the newest past cutoff, else the sBG's
  P(not staying the horizon); the sBG's own figure beside it, and the risk's self-graded
  AUC on that past cutoff) for
  "has truly decided to leave by the scan date" and "truly lapses within the horizon"
  (``truth/customers_truth.parquet``: ``decided_on``, ``lapse_date``), beside chance (0.5),
  days since the last order, the count of recent incidents (the strongest single sign in
  this simulated world), and ``lapse_risk`` when the run has one, as the scan wrote it
  before (contract step off) and after.

The anchor of the run is the "before" scan: every count is printed beside it, with the
CPU seconds of each scan beside its wall time.

    uv run python benchmarks/accuracy_subscriptions.py [--customers 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import pipeline
from winback.scan.pipeline import run_scan
from winback.scan.subscriptions import contract_risk, contract_standing
from winback.simulate.run import simulate

END = date(2026, 6, 30)


@contextmanager
def contracts_off() -> Iterator[None]:
    """The scan without its contract step: statuses from the order rules alone."""
    real = pipeline.judge_contracts
    pipeline.judge_contracts = lambda con, f, lapse, *rest: (f, lapse, {})
    try:
        yield
    finally:
        pipeline.judge_contracts = real


def _auc(y: np.ndarray, score: np.ndarray) -> str:
    known = ~np.isnan(score)
    if len(set(y[known].tolist())) < 2:
        return "  n/a"
    return f"{roc_auc_score(y[known], score[known]):.3f}"


def _scan(ledger: Ledger, runs: Path, policy: Policy, as_of: date) -> tuple[pd.DataFrame, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    run = run_scan(ledger, runs, policy, as_of=as_of)
    took = (time.perf_counter() - wall, time.process_time() - cpu)
    return run.customers().to_pandas(), took


def measure(customers: int, seed: int, work: Path) -> None:
    policy = Policy()
    horizon = policy.lapse.follow_suit_window_days
    out = work / "sim"
    simulate("subscription", customers, 36, seed, out, "parquet")
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted(out.glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet")
    decided = pd.to_datetime(truth.set_index("customer_id")["decided_on"])
    lapsed = pd.to_datetime(truth.set_index("customer_id")["lapse_date"])
    cases = set(policy.assignment.case_tiers)
    print(f"subscription profile, {customers:,} customers, seed {seed}; horizon {horizon} days")
    for as_of in (END - timedelta(days=horizon), END):
        with contracts_off():
            before, took_before = _scan(ledger, work / "runs", policy, as_of)
        after, took_after = _scan(ledger, work / "runs", policy, as_of)
        standing = contract_standing(ledger.ibis(), as_of, None, horizon)
        paying = set(standing.loc[standing["unpaid_invoices"] == 0, "customer_id"].astype(str))
        print(f"\nscan as of {as_of}: {len(paying):,} paying subscribers with a running contract")
        print(
            f"  scan seconds: before {took_before[0]:.1f} wall / {took_before[1]:.1f} CPU, "
            f"after {took_after[0]:.1f} wall / {took_after[1]:.1f} CPU "
            f"(ratio {took_after[0] / took_before[0]:.2f})"
        )
        for name, frame in (("before", before), ("after", after)):
            mine = frame["customer_id"].isin(paying)
            status = frame.loc[mine, "status"]
            case = frame["rank"].notna() & frame["tier"].isin(cases)
            print(
                f"  {name:<6}: lapsed or lost {int(status.isin(['lapsed', 'lost']).sum()):>5,}"
                f" · slipping {int((status == 'slipping').sum()):>5,}"
                f" · desk cases theirs {int((case & mine).sum()):>4,} of {int(case.sum()):,}"
            )
        slipping = after[after["customer_id"].isin(paying) & (after["status"] == "slipping")]
        gaps = slipping["reasons"].map(
            lambda r: any("purchase" in x or "order" in x for x in (r if r is not None else []))
        )
        print(f"  after : slipping for order gaps {int(gaps.sum())}")

        con = ledger.ibis()
        standing = contract_standing(con, as_of, _sbg(ledger, as_of, policy), horizon)
        sbg_leave = pd.Series(
            standing["p_leave"].to_numpy(dtype=float), index=standing["customer_id"].astype(str)
        )
        learned, report = contract_risk(con, as_of, horizon, sbg_leave)
        graded = report.get("graded", {})
        print(
            f"  contract risk used: {report['model']}"
            + (f" ({report['problem']})" if "problem" in report else "")
            + (
                f"; self-graded at {graded['cutoff']}: AUC {graded['auc']:.3f} "
                f"(sBG {graded['auc_sbg']:.3f}), Brier {graded['brier']:.4f} "
                f"(base rate {graded['brier_base_rate']:.4f})"
                if "auc" in graded
                else ""
            )
        )
        standing["contract_risk"] = standing["customer_id"].astype(str).map(learned)
        run_risk = standing[standing["customer_id"].isin(paying)].merge(
            after[["customer_id", "days_since_last_order", "recent_incidents", "lapse_risk"]]
            if "lapse_risk" in after
            else after[["customer_id", "days_since_last_order", "recent_incidents"]],
            on="customer_id",
        )
        if "lapse_risk" in before:
            run_risk = run_risk.merge(
                before[["customer_id", "lapse_risk"]].rename(columns={"lapse_risk": "before"}),
                on="customer_id",
            )
        ids = run_risk["customer_id"]
        cut = pd.Timestamp(as_of)
        labels = {
            "decided to leave by the scan": (ids.map(decided) <= cut).to_numpy(),
            f"lapses within {horizon} days": (
                (ids.map(lapsed) > cut) & (ids.map(lapsed) <= cut + pd.Timedelta(days=horizon))
            ).to_numpy(),
        }
        for label, y in labels.items():
            scores = {
                "sBG": run_risk["p_leave"].to_numpy(dtype=float),
                "contract risk": run_risk["contract_risk"].to_numpy(dtype=float),
                "days since last order": run_risk["days_since_last_order"].to_numpy(dtype=float),
                "recent incidents": run_risk["recent_incidents"].to_numpy(dtype=float),
            }
            if "before" in run_risk:
                scores["lapse_risk before"] = run_risk["before"].to_numpy(dtype=float)
            if "lapse_risk" in run_risk:
                scores["lapse_risk (run)"] = run_risk["lapse_risk"].to_numpy(dtype=float)
            shown = " · ".join(f"{k} {_auc(y, v)}" for k, v in scores.items())
            print(f"  AUC, {label} ({int(y.sum())} of {len(y):,}): chance 0.500 · {shown}")


def _sbg(ledger: Ledger, as_of: date, policy: Policy) -> Any:
    from winback.scan.subscriptions import fit_retention

    model, _ = fit_retention(ledger.ibis(), as_of, policy)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="winback-subs-bench-") as tmp:
        measure(args.customers, args.seed, Path(tmp))


if __name__ == "__main__":
    main()
