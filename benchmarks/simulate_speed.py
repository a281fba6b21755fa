"""How fast the simulator writes a big business, and how much memory it needs.

Simulates a retail business of 1M customers with about 20M orders (three years, eleven
orders a year on average) and writes it as Parquet. Prints the wall time, the peak
resident memory of the process and, as the project's rule asks, a ratio against an
anchor measured in the same run: the time Arrow takes to write the same number of rows
of random numbers (an integer and a float column) to Parquet in the same sized pieces.

    uv run python benchmarks/simulate_speed.py [--customers 1000000] [--format parquet]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winback.simulate.run import simulate


def anchor_seconds(rows: int, out: Path) -> float:
    """Seconds to write ``rows`` rows of random numbers to Parquet, 1M rows at a time."""
    rng = np.random.default_rng(0)
    schema = pa.schema([("n", pa.int64()), ("x", pa.float64())])
    started = time.perf_counter()
    with pq.ParquetWriter(out, schema) as writer:
        for first in range(0, rows, 1_000_000):
            size = min(1_000_000, rows - first)
            writer.write_table(
                pa.table(
                    {"n": rng.integers(0, 1 << 40, size), "x": rng.random(size)}, schema=schema
                )
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--orders-per-year", type=float, default=11.0)
    parser.add_argument("--format", default="parquet", choices=("csv", "parquet"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="winback-sim-") as tmp:
        out = Path(tmp)
        summary = simulate(
            "retail",
            args.customers,
            args.months,
            seed=1,
            out=out / "world",
            fmt=args.format,
            orders_per_year=args.orders_per_year,
        )
        # Peak memory is read before the anchor runs, so it is the simulator's own.
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = sum(summary.rows.values())
        size_mb = sum(p.stat().st_size for p in (out / "world").rglob("*")) / 1e6
        anchor = anchor_seconds(rows, out / "anchor.parquet")

    print(f"simulate retail: {args.customers:,} customers, {args.months} months, {args.format}")
    for name, count in summary.rows.items():
        print(f"  {name:<18}{count:>14,}")
    print(f"  {'all rows':<18}{rows:>14,}   ({size_mb:,.0f} MB on disk)")
    print(f"wall time      {summary.seconds:8.1f} s")
    print(f"peak memory    {peak_mb:8.0f} MB (max resident set of the process)")
    print(f"anchor         {anchor:8.1f} s (Arrow writing {rows:,} rows of random numbers)")
    print(f"ratio          {summary.seconds / anchor:8.1f} x anchor")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
