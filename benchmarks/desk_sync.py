"""Desk sync, timeline copy and search index after a scan, against a bare DuckDB summary.

What ``winback scan`` does after the scan itself, measured on the ledger that
``benchmarks/scan_speed.py`` prepares (``--work``; 1M customers, about 19M orders) without
running the scan: two scan runs are made from the ledger's own customers (their ids, so
the ledger reads sync makes find real orders and contacts), with ``--listed`` of them
ranked in the rep and executive tiers. Then, each in a fresh process so that its CPU
seconds and peak memory are its own:

- anchor: the bare DuckDB per-customer summary ``scan_speed.py`` compares against;
- sync: the desk (the simulated staff as users, no cases yet) synced with the first run
  (every listed customer becomes a case), then with the second (``--rescored`` of the
  cases rescored, all by default: a scan a day later moves every customer's P(alive),
  value and rank, so a real next night refreshes every open case; one in fifty of the
  others returned with a newer order): what
  ``winback sync`` does bar the timeline (cases, outcomes to the ledger, red carpet, the
  run's lookup copy), each sync timed on its own;
- timeline and search: the customer timeline copy and the search index
  (``cycle.refresh_timeline``) built into an empty workspace for the first run, then
  again for the second run (no import between: what a scan alone asks for), then again
  after 20,000 more orders are imported (into a copy of the ledger whose segment files
  are hard links);
- the anchor again, so that drift in the machine's load shows.

CPU is the child's user + system seconds (every thread, from ``wait4``); the per-step
figures inside a child are its ``process_time``. Ratios are CPU / anchor CPU. The load
average is printed before and after.

    uv run python benchmarks/desk_sync.py --work /tmp/winback-speed-1000000
    uv run python benchmarks/desk_sync.py --work /tmp/w --desk-url postgresql+psycopg://root@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
from _child import measure_child

STEPS = ("anchor", "sync", "timeline and search", "anchor again")
RUNS = "desk-sync-runs"
ADDED = 20_000  # orders imported before the last timeline and search rebuild


def _runs(work: Path, listed: int, rescored: float) -> list[str]:
    """Two scan runs over the ledger's customers (made once per ``listed`` and
    ``rescored``; reused)."""
    from winback.ledger.store import Ledger
    from winback.scan.runs import RUN_SCHEMA, RunInfo, write_run

    folder = work / RUNS
    stamp = folder / "made.json"
    made = {"listed": listed, "rescored": rescored}
    if stamp.exists() and {k: json.loads(stamp.read_text()).get(k) for k in made} == made:
        return list(json.loads(stamp.read_text())["runs"])
    shutil.rmtree(folder, ignore_errors=True)
    con = Ledger(work / "ledger").connect()
    known = con.sql(
        "SELECT c.customer_id, c.name, max(o.order_date) AS last "
        "FROM customers c LEFT JOIN orders o USING (customer_id) "
        "GROUP BY ALL ORDER BY c.customer_id"
    ).to_arrow_table()
    con.close()
    n = known.num_rows
    rng = np.random.default_rng(16)
    rank = np.zeros(n, dtype=np.int64)
    chosen = rng.choice(n, size=min(listed, n), replace=False)
    rank[chosen] = np.arange(1, len(chosen) + 1)
    on_list = rank > 0
    tier = np.where(on_list, np.where(rng.random(n) < 0.05, "executive", "rep"), "none")
    days = rng.integers(30, 900, n)
    reasons = pa.array(
        [
            [f"no order for {d} days", "fewer orders each year"] if o else []
            for d, o in zip(days, on_list, strict=True)
        ],
        pa.list_(pa.string()),
    )

    segment = pa.array(rng.choice(["retail", "smb"], n))

    def table(p_alive: np.ndarray, last: pa.Array) -> pa.Table:
        columns: dict[str, Any] = {f.name: pa.nulls(n, f.type) for f in RUN_SCHEMA}
        columns.update(
            customer_id=known.column("customer_id"),
            name=known.column("name"),
            segment=segment,
            status=pa.array(np.where(on_list, "lapsed", "active")),
            last_order_date=last,
            p_alive=pa.array(p_alive),
            predicted_value=pa.array(np.round(p_alive * 900, 2)),
            expected_value=pa.array(np.round(p_alive * 200, 2)),
            winback_odds=pa.array(np.full(n, 0.3)),
            revenue=pa.array(np.round(p_alive * 1500, 2)),
            revenue_last_year=pa.array(np.round(p_alive * 500, 2)),
            decision=pa.array(np.where(on_list, "pursue", None)),
            tier=pa.array(tier),
            rank=pa.array(np.where(on_list, rank, None), pa.int64()),
            reasons=reasons,
            decision_reasons=pa.array([["worth it"] if o else [] for o in on_list]),
        )
        return pa.table(columns).cast(RUN_SCHEMA)

    p_alive = np.round(rng.random(n), 4)
    last = pc.cast(known.column("last"), pa.date32())
    first = write_run(
        folder, RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01", 1), table(p_alive, last)
    )
    time.sleep(1.1)  # run ids carry the second they were made
    moved = on_list & (rng.random(n) < rescored)
    back = on_list & ~moved & (rng.random(n) < 0.02)
    week = pa.array(np.where(back, 7, 0).astype("int32"))
    later = pc.cast(pc.add(pc.cast(last, pa.int32()), week), pa.date32())
    second = write_run(
        folder,
        RunInfo(RunInfo.new_id(), "2024-07-31", "2024-08-01", 1),
        table(np.where(moved, np.round(p_alive * 0.9, 4), p_alive), later),
    )
    names = [first.info.run_id, second.info.run_id]
    stamp.write_text(json.dumps(made | {"runs": names}))
    return names


def _workspace(work: Path, which: str, desk_url: str | None) -> Any:
    """scan_speed.py's fresh workspace (a copy of the template desk), with a copy of the
    two runs and a ledger of its own: the prepared one's segment files linked (never
    rewritten), its manifest copied, so that the outcomes the second sync exports and the
    orders the timeline step imports never reach the prepared ledger."""
    from scan_speed import _workspace as workspace

    settings = workspace(work, f"desk-sync-{which}", desk_url)
    shutil.copytree(work / RUNS, settings.home / "runs")
    (settings.home / "ledger").unlink()
    shutil.copytree(
        work / "ledger",
        settings.home / "ledger",
        copy_function=lambda a, b: os.link(a, b) if a.endswith(".parquet") else shutil.copy2(a, b),
    )
    return settings


def _timed(steps: dict[str, dict[str, float]], name: str, work: Any) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    done = work()
    steps[name] = {"cpu": time.process_time() - cpu, "seconds": time.perf_counter() - wall}
    return done


def _sync(work: Path, desk_url: str | None, runs: list[str]) -> dict[str, Any]:
    from winback import cycle
    from winback.scan.runs import read_run

    settings = _workspace(work, "sync", desk_url)
    policy = cycle.policy_in_force(settings)
    steps: dict[str, dict[str, float]] = {}
    counts = []
    for label, run_id in zip(("first sync (empty desk)", "second sync"), runs, strict=True):
        run = read_run(settings.runs_dir / run_id)
        done = _timed(
            steps, label, lambda run=run: cycle.sync(settings, policy, run, rebuild_timeline=False)
        )
        counts.append({k: v for k, v in done.counts().items() if v})
    shutil.rmtree(settings.home, ignore_errors=True)
    return {"steps": steps, "counts": counts}


def _timeline(work: Path, desk_url: str | None, runs: list[str]) -> dict[str, Any]:
    """From scratch for the first run; again for the second run (no import between); then
    again after an import of ``ADDED`` new orders into a copy of the ledger."""
    from winback import cycle
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    settings = _workspace(work, "timeline", desk_url)
    steps: dict[str, dict[str, float]] = {}
    latest = settings.runs_dir / "LATEST"
    latest.write_text(runs[0], encoding="utf-8")
    _timed(steps, "from scratch", lambda: cycle.refresh_timeline(settings))
    latest.write_text(runs[1], encoding="utf-8")
    _timed(steps, "next run, no import", lambda: cycle.refresh_timeline(settings))
    ledger = Ledger(settings.ledger_dir)
    added = settings.home / "added.parquet"
    con = ledger.connect()
    con.execute(
        f"COPY (SELECT * REPLACE ('more-' || order_id AS order_id, order_date + 1 AS order_date) "
        f"FROM orders USING SAMPLE {ADDED} ROWS (reservoir, 16)) TO '{added}' (FORMAT parquet)"
    )
    con.close()
    import_file(ledger, "orders", added, rejects_dir=settings.rejects_dir)
    _timed(steps, f"after {ADDED:,} orders imported", lambda: cycle.refresh_timeline(settings))
    shutil.rmtree(settings.home, ignore_errors=True)
    return {"steps": steps}


def _anchor(work: Path, _desk_url: str | None, _runs: list[str]) -> dict[str, Any]:
    from scan_speed import _anchor as anchor

    return anchor(work, None)


_CHILDREN = {"anchor": _anchor, "anchor again": _anchor, "sync": _sync}
_CHILDREN["timeline and search"] = _timeline


def _measure(which: str, work: Path, desk_url: str | None, runs: list[str]) -> dict[str, Any]:
    """Run one measurement in a fresh process; its CPU, wall time and peak from wait4."""
    out = work / f"desk-sync-{which.replace(' ', '-')}.out"
    return measure_child(which, [__file__, "--child", which, str(work), desk_url or "", *runs], out)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="scan_speed.py's --work folder (required)")
    parser.add_argument("--listed", type=int, default=100_000, help="customers ranked (cases)")
    parser.add_argument(
        "--rescored",
        type=float,
        default=1.0,
        help="share of the cases the second run rescores (1: all, as a real next night does)",
    )
    parser.add_argument("--only", choices=STEPS, action="append")
    parser.add_argument("--desk-url", default=None, help="A PostgreSQL desk (emptied first).")
    parser.add_argument("--child", nargs="+", metavar="WHICH WORK DESK RUN")
    args = parser.parse_args()
    if args.child:
        which, work, desk, *runs = args.child
        print(json.dumps(_CHILDREN[which](Path(work), desk or None, runs)))
        return
    if args.work is None or not (args.work / "prepared.json").exists():
        raise SystemExit(f"{args.work}: no prepared ledger; run benchmarks/scan_speed.py first")
    from scan_speed import _desk_template, _empty_desk

    _desk_template(args.work)
    runs = _runs(args.work, args.listed, args.rescored)
    print(f"load average before: {_load()}", flush=True)
    results = {}
    for which in args.only or STEPS:
        if which == "sync" and args.desk_url:
            _empty_desk(args.desk_url, args.work)
        print(f"measuring {which} …", flush=True)
        results[which] = _measure(which, args.work, args.desk_url, runs)
    print(f"load average after:  {_load()}")
    anchors = [results[k]["cpu"] for k in ("anchor", "anchor again") if k in results]
    anchor = min(anchors) if anchors else None
    print(f"\n{'':34s} {'cpu s':>8s} {'wall s':>8s} {'peak MB':>8s} {'cpu/anchor':>10s}")
    for which, r in results.items():
        ratio = f"{r['cpu'] / anchor:9.2f}x" if anchor else ""
        print(f"{which:34s} {r['cpu']:8.1f} {r['seconds']:8.1f} {r['peak_mb']:8.0f} {ratio:>10s}")
        for name, step in r.get("steps", {}).items():
            share = f"{step['cpu'] / anchor:9.2f}x" if anchor else ""
            print(f"    {name:30s} {step['cpu']:8.1f} {step['seconds']:8.1f} {'':8s} {share:>10s}")
        for counted in r.get("counts", []):
            print(f"    {counted}")


if __name__ == "__main__":
    main()
