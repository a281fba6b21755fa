"""How right the scan is about a business whose truth is known (the simulator).

Simulates a retail business, imports it, and scans it once a month over its last year.
Against the ground truth (``truth/customers_truth.parquet``, which no scan reads):

- alerts: precision and recall of "not active" at the last scan, where the truth is
  "has decided to leave by the scan date"; the anchor is the plain "no purchase in
  6 months" rule measured on the same customers in the same run;
- lead time: for customers who truly lapsed during the year, days between the first monthly
  scan that flagged them and the true lapse date (positive: flagged ahead of the lapse);
- intangibles: precision and recall of each flag the scan raises against the truth's flag;
- keeper decisions: the true yearly value and true best win-back chance of customers the
  scan says to pursue, not to pursue and let go.

    uv run python benchmarks/accuracy_simulated.py [--customers 4000] [--seed 11]
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

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.pipeline import run_scan
from winback.simulate.run import simulate

END = date(2026, 6, 30)


def _precision_recall(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flag & truth))
    return hits / max(float(flag.sum()), 1.0), hits / max(float(truth.sum()), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--months", type=int, default=12, help="monthly scans over this many")
    args = parser.parse_args()
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

        print("\nintangibles (scan flag against the truth's flag)")
        for name in ("rude", "heavy_contact", "late_payer", "return_abuser"):
            flag = scan[name].fillna(False).to_numpy(dtype=bool)
            real = t[name].fillna(False).to_numpy(dtype=bool)
            fp, fr = _precision_recall(flag, real)
            print(f"  {name:14s} precision {fp:.3f}  recall {fr:.3f}  ({int(real.sum())} true)")

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
