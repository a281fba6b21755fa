"""Import speed: `winback import` against DuckDB's own read_csv on the same file.

Generates an orders CSV (20 million rows by default) and times, each in a fresh process
so that peak memory is its own:

- anchor: DuckDB reading the file with read_csv into a table of an on-disk database;
- winback: `import_file` into an empty ledger (checks, keys, Parquet segment, manifest);
- again: the same file imported again into that ledger, in the same process: every record
  is a duplicate of a stored one (issue 12: this took 22x the first import).

Prints rows/s, peak memory (RSS), CPU seconds (all threads; steadier than wall time when
the machine is shared) and the ratios winback / anchor. Goal (issue 2): within 1.5x of the
anchor (time) and under 2 GB.

    uv run python benchmarks/import_speed.py            # 20M rows
    uv run python benchmarks/import_speed.py --rows 2000000
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

import duckdb


def generate(path: Path, rows: int) -> None:
    """An orders file with 1/20 as many customers as orders, over three years."""
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT 'O' || i AS order_id,
                   'C' || (hash(i) % {max(rows // 20, 1)}) AS customer_id,
                   DATE '2022-01-01' + CAST(hash(i * 7) % 1095 AS INTEGER) AS order_date,
                   round(5 + (hash(i * 13) % 50000) / 100.0, 2) AS amount,
                   1 + hash(i * 17) % 5 AS quantity,
                   CASE hash(i * 19) % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'store' ELSE 'phone' END
                       AS channel
            FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    con.close()


def _cpu() -> float:
    """CPU seconds of this process, all threads: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _anchor(path: Path, work: Path) -> dict[str, float]:
    con = duckdb.connect(str(work / "anchor.duckdb"))
    started, cpu = time.perf_counter(), _cpu()
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{path}')")
    n = con.sql("SELECT count(*) FROM orders").fetchall()[0][0]
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": n, "cpu": _cpu() - cpu}


def _winback(path: Path, work: Path) -> dict[str, float]:
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    ledger = Ledger(work / "ledger")
    started, cpu = time.perf_counter(), _cpu()
    result = import_file(ledger, "orders", path, rejects_dir=work / "rejects")
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if result.rejected or not result.balanced:
        raise SystemExit(f"the generated file should import cleanly: {result}")
    started, again_cpu = time.perf_counter(), _cpu()
    again = import_file(ledger, "orders", path, rejects_dir=work / "rejects")
    again_seconds, again_cpu = time.perf_counter() - started, _cpu() - again_cpu
    if again.duplicates != result.stored or not again.balanced:
        raise SystemExit(f"importing again should find every record stored: {again}")
    return {
        "seconds": seconds,
        "rows": result.stored,
        "cpu": cpu,
        "again_seconds": again_seconds,
        "again_cpu": again_cpu,
    }


def _child(which: str, path: str, work: str) -> None:
    run = _anchor if which == "anchor" else _winback
    measured = run(Path(path), Path(work))
    measured["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(measured))


def measure(which: str, path: Path, work: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path), str(work)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "FILE", "WORK"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="winback-bench-") as tmp:
        work = Path(tmp)
        path = work / "orders.csv"
        print(f"generating {args.rows:,} orders …", flush=True)
        generate(path, args.rows)
        print(f"file: {path.stat().st_size / 1e9:.2f} GB", flush=True)
        results = {}
        for which in ("anchor", "winback"):
            (work / which).mkdir()
            print(f"running {which} …", flush=True)
            results[which] = measure(which, path, work / which)
        for which, r in results.items():
            print(
                f"{which:8s} {r['seconds']:7.2f} s  {r['rows'] / r['seconds']:>12,.0f} rows/s  "
                f"peak {r['peak_mb']:7.0f} MB  cpu {r['cpu']:7.2f} s"
            )
        ratio = results["winback"]["seconds"] / results["anchor"]["seconds"]
        print(f"ratio winback / anchor (time): {ratio:.2f}x  (goal: <= 1.5x)")
        cpu_ratio = results["winback"]["cpu"] / results["anchor"]["cpu"]
        print(f"ratio winback / anchor (cpu):  {cpu_ratio:.2f}x")
        print(f"winback peak memory: {results['winback']['peak_mb']:.0f} MB  (goal: < 2048 MB)")
        w = results["winback"]
        print(
            f"again    {w['again_seconds']:7.2f} s  {w['rows'] / w['again_seconds']:>12,.0f} rows/s"
            f"  cpu {w['again_cpu']:7.2f} s  ratio to the first import: "
            f"{w['again_seconds'] / w['seconds']:.2f}x time, {w['again_cpu'] / w['cpu']:.2f}x cpu"
        )


if __name__ == "__main__":
    main()
