"""Lapse-risk speed: the scan's feature frames and its lapse-risk backtest, against a bare
DuckDB summary, in the same run.

Reads a ledger prepared by ``scan_speed.py`` (``--work``, default
``/tmp/winback-speed-<customers>``) and measures, each in a fresh process so that its CPU
seconds and peak memory are its own:

- anchor: ``scan_speed.py``'s bare DuckDB per-customer summary of the orders;
- lapse risk: what the scan's "features" and "lapse risk" steps compute of their own: the
  table by customer and purchase day (once), today's feature frame, and
  ``backtest_and_score`` with the feature frames of its past cutoffs, the label-only
  frames of the later dates, the classifier's fit (on its sample), calibration and
  scoring. Left out, and said so: the customer-base models refitted at each cutoff and the
  risk drivers found there (``modelling.py``, ``drivers.py``; the model's columns are
  NaN, so the classifier learns without them) — ``scan_speed.py`` times the whole scan;
- with ``--old``: the same, each date read as a whole feature frame (the scan before the
  label-only frames), for the comparison.

Each measurement prints the child's CPU seconds (user + system, every thread, from
``wait4``), wall seconds, peak resident memory and its CPU over the anchor's.

    uv run python benchmarks/lapse_speed.py --customers 100000 --old
    uv run python benchmarks/lapse_speed.py --work /tmp/winback-speed-1m-copy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import measure_child


def _anchor(work: Path) -> dict[str, Any]:
    """The bare DuckDB per-customer summary, as scan_speed.py measures it."""
    from scan_speed import _anchor as anchor

    return anchor(work, None)


def _lapse(work: Path, old: bool) -> dict[str, Any]:
    from datetime import date

    import numpy as np
    import pandas as pd

    from winback.ledger.store import Ledger
    from winback.policy import Policy
    from winback.scan import pipeline
    from winback.scan.cutoff_sql import CutoffQueries
    from winback.scan.features import customer_days, customer_features, last_orders
    from winback.scan.follow_suit import MODEL_COLUMNS, backtest_and_score

    policy = Policy()
    con = Ledger(work / "ledger").ibis()
    as_of = pipeline.default_as_of(con)
    steps: dict[str, float] = {}
    started = time.process_time()
    days = pipeline._kept(con, customer_days(con.table("orders")))
    today = pipeline.feature_frame(customer_features(con, as_of, policy, days))
    today = today.sort_values("customer_id", kind="stable").reset_index(drop=True)
    steps["features"] = time.process_time() - started
    no_model = dict.fromkeys(MODEL_COLUMNS, np.nan)
    today = today.assign(**no_model)
    reads = {"frames": 0, "labels": 0}

    # As the scan reads them: the first cutoff's query compiled, later ones its dates moved.
    queries = CutoffQueries(con, lambda cutoff: customer_features(con, cutoff, policy, days))

    def features_at(cutoff: date) -> pd.DataFrame:
        reads["frames"] += 1
        table = queries.arrow(cutoff)
        return table.sort_by("customer_id").to_pandas().assign(**no_model)

    def labels_at(cutoff: date) -> pd.DataFrame:
        reads["labels"] += 1
        return last_orders(days, cutoff).to_pyarrow().sort_by("customer_id").to_pandas()

    started = time.process_time()
    risk, backtest = backtest_and_score(
        features_at, today, as_of, policy, labels_at=None if old else labels_at
    )
    steps["lapse risk"] = time.process_time() - started
    return {
        "customers": len(today),
        "steps": steps,
        "reads": reads,
        "train_rows": backtest.train_rows,
        "auc": backtest.scores.get("lapse_risk", {}).get("auc"),
        "scored": int(np.isfinite(risk).sum()),
    }


def _child(which: str, work: str) -> None:
    measured = _anchor(Path(work)) if which == "anchor" else _lapse(Path(work), which == "old")
    print(json.dumps(measured))


def _measure(which: str, work: Path) -> dict[str, Any]:
    """One measurement in a fresh process; its CPU, wall time and peak from wait4."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "child.out"
        return measure_child(which, [__file__, "--child", which, str(work)], out)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--old", action="store_true", help="Also measure whole frames per date.")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "WORK"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    work = args.work or Path(tempfile.gettempdir()) / f"winback-speed-{args.customers}"
    if not (work / "prepared.json").exists():
        raise SystemExit(f"no ledger in {work}: prepare one with benchmarks/scan_speed.py")
    print(f"ledger: {work}; load average before: {_load()}", flush=True)
    order = ["anchor", "new", *(["old"] if args.old else []), "anchor"]
    results = []
    for which in order:
        print(f"measuring {which} …", flush=True)
        results.append((which, _measure(which, work)))
    print(f"load average after:  {_load()}")
    anchor = min(r["cpu"] for w, r in results if w == "anchor")
    labels = {
        "anchor": "anchor (bare DuckDB summary)",
        "new": "features + lapse risk",
        "old": "the same, whole frames per date",
    }
    print(f"\n{'':34s} {'cpu s':>8s} {'wall s':>8s} {'peak MB':>8s} {'cpu/anchor':>10s}")
    for which, r in results:
        print(
            f"{labels[which]:34s} {r['cpu']:8.1f} {r['seconds']:8.1f} {r['peak_mb']:8.0f} "
            f"{r['cpu'] / anchor:9.1f}x"
        )
        for name, cpu in r.get("steps", {}).items():
            print(f"    {name:30s} {cpu:8.1f}")
        if "reads" in r:
            print(
                f"    {r['reads']['frames']} feature frames, {r['reads']['labels']} label-only; "
                f"{r['train_rows']:,} training rows; held-out AUC {r['auc']}"
            )
    print(f"customers: {results[0][1]['customers']:,}")


if __name__ == "__main__":
    main()
