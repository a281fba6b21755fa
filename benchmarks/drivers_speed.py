"""Drivers speed: the scan's risk drivers, sweet spots and the drivers met at each past
cutoff, against a bare DuckDB summary, in the same run.

Reads a ledger prepared by ``scan_speed.py`` (``--work``, default
``/tmp/winback-speed-<customers>``) and measures, each in a fresh process so that its CPU
seconds and peak memory are its own:

- anchor: ``scan_speed.py``'s bare DuckDB per-customer summary of the orders;
- drivers: what the scan's "drivers" step computes (the drivers found a year back, today's
  exposures and each customer's clear drivers, the sweet spots) and, in its "lapse risk"
  step, ``drivers.drivers_met_at`` at each of the backtest's past cutoffs (the held-out
  one and the training ones, chosen as the scan chooses them), each timed on its own. The
  tables the scan keeps for them (by customer and day, by customer, line and day, and the
  people at every cutoff the drivers are found at) are made first and timed too.

Run with ``PYTHONPATH`` pointing at an older ``src`` to time the code before a change: a
``drivers.py`` without kept tables is called as it was (each cutoff read from the orders).

    uv run python benchmarks/drivers_speed.py --customers 100000
    uv run python benchmarks/drivers_speed.py --work /tmp/winback-speed-1m
    PYTHONPATH=<an older checkout>/src uv run python benchmarks/drivers_speed.py  # before
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import measure_child
from lapse_speed import _anchor, _load


def _drivers(work: Path) -> dict[str, Any]:
    from datetime import timedelta

    import pandas as pd

    from winback.ledger.store import Ledger
    from winback.policy import Policy
    from winback.scan import drivers, features, pipeline, sweet_spot
    from winback.scan.follow_suit import gone_window

    con = Ledger(work / "ledger").ibis()
    as_of = pipeline.default_as_of(con)
    kept = hasattr(drivers, "exposures_at")  # the code since the kept line table
    steps: dict[str, float] = {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = work()
        steps[name] = time.process_time() - started
        return result

    days = timed(
        "table by customer and day (kept)",
        lambda: pipeline._kept(con, features.customer_days(con.table("orders"))),
    )
    given: dict[str, Any] = {}
    if kept:
        lines = timed(
            "table by customer, line and day (kept)",
            lambda: pipeline._kept(con, features.line_days(con)),
        )
        given = {"days": days, "lines": lines}
    horizon = Policy().lapse.follow_suit_window_days
    held_out = as_of - timedelta(days=horizon)
    first = con.table("orders").order_date.min().execute()
    _window, train = gone_window(pd.DataFrame({"first_order_date": [first]}), held_out, horizon)
    if hasattr(drivers, "people_by_cutoff"):  # every cutoff's people in one pass
        found_at = [c - timedelta(days=drivers.HORIZON_DAYS) for c in (as_of, held_out, *train)]
        given["people"] = timed(
            "people at every cutoff (kept)",
            lambda: pipeline._kept(con, drivers.people_by_cutoff(con, found_at, days)),
        )

    def today() -> int:
        found = drivers.find_drivers(con, as_of, **given)
        if hasattr(drivers, "clear_exposures_at"):  # only the clear drivers' rows read
            met = drivers.clear_exposures_at(con, as_of, found, given["lines"])
        elif kept:
            met = drivers.exposures_at(con, as_of, drivers.EXPOSURE_DAYS, given["lines"])
        else:
            expr = features.exposure_features(con, as_of, drivers.EXPOSURE_DAYS)
            met = expr.to_pyarrow().to_pandas()
        return len(drivers.risk_driver_features(met, found))

    met_today = timed("drivers found, today's met", today)
    spots = timed(
        "sweet spots",
        lambda: (
            sweet_spot.sweet_spots(con, as_of, given["lines"], given["days"])
            if kept
            else sweet_spot.sweet_spots(con, as_of)
        ),
    )
    met_at = []
    for cutoff in [held_out, *train]:
        frame = timed(
            f"drivers_met_at {cutoff}", lambda c=cutoff: drivers.drivers_met_at(con, c, **given)
        )
        met_at.append(len(frame))
    return {
        "customers": len(spots),
        "steps": steps,
        "kept": kept,
        "met_today": met_today,
        "met_at": met_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--child", choices=("anchor", "drivers"))
    args = parser.parse_args()
    work = args.work or Path(tempfile.gettempdir()) / f"winback-speed-{args.customers}"
    if args.child:
        print(json.dumps(_anchor(work) if args.child == "anchor" else _drivers(work)))
        return
    if not (work / "prepared.json").exists():
        raise SystemExit(f"no ledger in {work}: prepare one with benchmarks/scan_speed.py")
    print(f"ledger: {work}; load average before: {_load()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for which in ("anchor", "drivers", "anchor"):
            print(f"measuring {which} …", flush=True)
            child = [__file__, "--work", str(work), "--child", which]
            results.append((which, measure_child(which, child, Path(scratch) / "child.out")))
    print(f"load average after:  {_load()}")
    anchor = min(r["cpu"] for w, r in results if w == "anchor")
    labels = {"anchor": "anchor (bare DuckDB summary)", "drivers": "drivers and sweet spots"}
    print(f"\n{'':40s} {'cpu s':>8s} {'wall s':>8s} {'peak MB':>8s} {'cpu/anchor':>10s}")
    for which, r in results:
        print(
            f"{labels[which]:40s} {r['cpu']:8.1f} {r['seconds']:8.1f} {r['peak_mb']:8.0f} "
            f"{r['cpu'] / anchor:9.1f}x"
        )
        for name, cpu in r.get("steps", {}).items():
            print(f"    {name:38s} {cpu:6.1f}")
        if "met_at" in r:
            print(
                f"    {'kept tables' if r['kept'] else 'orders read at each cutoff'}; "
                f"customers with a clear driver today {r['met_today']:,}, at the past "
                f"cutoffs {', '.join(f'{n:,}' for n in r['met_at'])}"
            )
    print(f"customers: {results[1][1]['customers']:,}")


if __name__ == "__main__":
    main()
