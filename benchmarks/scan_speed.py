"""Scan speed: the whole scan against a bare DuckDB per-customer summary, same ledger, same run.

Simulates a retail business (1M customers and about 20M orders by default), imports it,
then times, each in a fresh process so that peak memory is its own:

- anchor: one DuckDB query over the ledger's orders computing, per customer, the number of
  purchase days, first and last purchase and revenue (the summary the models start from);
- scan: ``run_scan`` end to end (features at today and at the classifier's four cutoffs,
  the Pareto/NBD and Gamma-Gamma fits and predictions, the classifier's backtest and
  scoring, the policy, the decision, the run written).

Prints both times, each step's time, peak memory, and the ratio scan / anchor. Goal
(issue 5): within 3x of the anchor and under 4 GB.

    uv run python benchmarks/scan_speed.py                      # 1M customers
    uv run python benchmarks/scan_speed.py --customers 100000   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _prepare(work: Path, customers: int) -> None:
    from winback.ledger.contract import TABLES
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger
    from winback.simulate.run import simulate

    started = time.perf_counter()
    simulate("retail", customers, 36, 5, work / "sim", "parquet", orders_per_year=11)
    print(f"simulated in {time.perf_counter() - started:.0f} s", flush=True)
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            t = time.perf_counter()
            result = import_file(ledger, name, path, rejects_dir=work / "rejects")
            print(
                f"  imported {result.stored:>12,} {name} in {time.perf_counter() - t:.0f} s",
                flush=True,
            )


def _anchor(work: Path) -> dict[str, float]:
    from winback.ledger.store import Ledger

    con = Ledger(work / "ledger").connect()
    started = time.perf_counter()
    rows = con.sql(
        "SELECT count(*) FROM (SELECT customer_id, count(DISTINCT order_date) AS purchases, "
        "min(order_date) AS first, max(order_date) AS last, sum(amount) AS revenue "
        "FROM orders GROUP BY customer_id)"
    ).fetchall()
    return {"seconds": time.perf_counter() - started, "customers": rows[0][0]}


def _scan(work: Path) -> dict[str, float]:
    from winback.ledger.store import Ledger
    from winback.policy import Policy
    from winback.scan.pipeline import run_scan

    steps: dict[str, float] = {}
    clock = {"name": "", "at": time.perf_counter()}

    def step(name: str) -> None:
        now = time.perf_counter()
        if clock["name"]:
            steps[str(clock["name"])] = now - float(clock["at"])
        clock.update(name=name, at=now)

    started = time.perf_counter()
    run = run_scan(Ledger(work / "ledger"), work / "runs", Policy(), step=step)
    step("")
    return {
        "seconds": time.perf_counter() - started,
        "customers": float(sum(v for k, v in run.info.counts.items() if k != "listed")),
        "steps": steps,  # type: ignore[dict-item]
        "classifier": run.info.classifier,  # type: ignore[dict-item]
    }


def _child(which: str, work: str) -> None:
    measured = (_anchor if which == "anchor" else _scan)(Path(work))
    measured["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(measured))


def _measure(which: str, work: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(work)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    if done.returncode:
        raise SystemExit(f"{which} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "WORK"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="winback-scan-bench-") as tmp:
        work = Path(tmp)
        _prepare(work, args.customers)
        anchor = _measure("anchor", work)
        scan = _measure("scan", work)
        print(
            f"anchor (bare DuckDB summary): {anchor['seconds']:7.2f} s  "
            f"peak {anchor['peak_mb']:6.0f} MB  ({anchor['customers']:,} customers)"
        )
        print(
            f"scan (end to end):            {scan['seconds']:7.2f} s  "
            f"peak {scan['peak_mb']:6.0f} MB  ({scan['customers']:,.0f} customers)"
        )
        for name, seconds in scan["steps"].items():  # type: ignore[union-attr]
            print(f"    {name:24s} {seconds:7.2f} s")
        c = scan["classifier"]
        if isinstance(c, dict) and c.get("auc") is not None:
            print(
                f"    classifier backtest: AUC {c['auc']:.3f}, top-decile lift "
                f"{c['top_decile_lift']:.2f} ({c['train_rows']:,} train rows, "
                f"{c['test_rows']:,} test rows)"
            )
        ratio = float(scan["seconds"]) / float(anchor["seconds"])  # type: ignore[arg-type]
        print(f"ratio scan / anchor (time): {ratio:.1f}x  (goal: <= 3x)")
        print(f"scan peak memory: {scan['peak_mb']:.0f} MB  (goal: < 4096 MB)")


if __name__ == "__main__":
    main()
