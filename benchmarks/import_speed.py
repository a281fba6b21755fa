"""Import speed: `winback import` against DuckDB's own read_csv, same files, same run.

Generates an orders CSV (20 million rows by default) and a messy copy of it (one record in
a hundred with something a person's export gets wrong: a date written another way, an
amount with a currency sign and thousands separator, padding, a category in capitals, a
missing customer, a negative amount, a date that is no date), then measures, each in a
fresh process so that its CPU seconds and peak memory are its own:

- anchor: DuckDB reading the clean file with read_csv (types detected) into a table of an
  on-disk database; measured first and again last, so that drift in the load shows;
- clean, empty ledger: `import_file` of the clean file into an empty ledger;
- messy, empty ledger: the messy file into an empty ledger (its bad records rejected with
  a reason, the rest stored);
- clean, large ledger / messy, large ledger: the same files into a ledger already holding
  as many other orders (other keys), so that every record is checked against the stored
  ones;
- again: the clean file imported into the ledger it was just imported into (every record
  a duplicate of a stored one).

CPU seconds are the child's own (user + system, every thread, through ``wait4``); ratios
are CPU over the anchor's CPU (the lower of its two runs); wall time on a shared machine
says more about the neighbours. Goals (issue 16): within 1.5x of the anchor into an empty
ledger, 1.7x into a large one.

    uv run python benchmarks/import_speed.py            # 20M rows
    uv run python benchmarks/import_speed.py --rows 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from _child import measure_child


def generate(path: Path, rows: int, *, first: int = 0, messy: bool = False) -> None:
    """An orders file with 1/20 as many customers as orders, over three years; ``first``
    shifts the order ids (another file's records); ``messy`` spoils one record in 100."""
    customers = max(rows // 20, 1)
    clean = {
        "order_id": "'O' || i",
        "customer_id": f"'C' || (hash(i) % {customers})",
        "order_date": "CAST(DATE '2022-01-01' + CAST(hash(i * 7) % 1095 AS INTEGER) AS VARCHAR)",
        "amount": "CAST(round(5 + (hash(i * 13) % 50000) / 100.0, 2) AS VARCHAR)",
        "quantity": "CAST(1 + hash(i * 17) % 5 AS VARCHAR)",
        "channel": "CASE hash(i * 19) % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'store' ELSE 'phone' END",
    }
    if messy:
        # Seven kinds of trouble, each in one record in 700: some import (reformatted),
        # some are rejected with a reason.
        spoil = {
            "order_date": {
                0: "strftime(DATE '2022-01-01' + CAST(hash(i * 7) % 1095 AS INTEGER), "
                "'%Y-%m-%dT10:00:00')",
                1: "'not a date'",
            },
            "amount": {
                2: "'$1,' || lpad(CAST(hash(i) % 1000 AS VARCHAR), 3, '0') || '.50'",
                3: "'-12.00'",
            },
            "channel": {4: "'  WEB '"},
            "customer_id": {5: "''"},
            "quantity": {6: "'two'"},
        }
        for column, cases in spoil.items():
            whens = " ".join(f"WHEN {k} THEN {v}" for k, v in cases.items())
            clean[column] = (
                f"CASE WHEN hash(i * 23) % 100 = 0 THEN CASE hash(i * 29) % 7 {whens} "
                f"ELSE {clean[column]} END ELSE {clean[column]} END"
            )
    select = ", ".join(f"{sql} AS {name}" for name, sql in clean.items())
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT {select} FROM range({first}, {first + rows}) t(i)) "
        f"TO '{path}' (HEADER, DELIMITER ',')"
    )
    con.close()


def _anchor(files: Path, _work: Path) -> dict[str, Any]:
    con = duckdb.connect(str(_work / "anchor.duckdb"))
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{files / 'clean.csv'}')")
    n = con.sql("SELECT count(*) FROM orders").fetchall()[0][0]
    con.close()
    return {"rows": n}


def _import(files: Path, work: Path, name: str) -> dict[str, Any]:
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    result = import_file(Ledger(work / "ledger"), "orders", files / name, rejects_dir=work / "rj")
    if not result.balanced:
        raise SystemExit(f"the import does not add up: {result}")
    return {
        "rows": result.read,
        "stored": result.stored,
        "rejected": result.rejected,
        "duplicates": result.duplicates,
    }


_CASES: dict[str, tuple[Any, str | None, str | None]] = {
    "anchor": (_anchor, None, None),
    "clean, empty ledger": (_import, "clean.csv", None),
    "messy, empty ledger": (_import, "messy.csv", None),
    "clean, large ledger": (_import, "clean.csv", "large"),
    "messy, large ledger": (_import, "messy.csv", "large"),
    "again (all duplicates)": (_import, "clean.csv", "clean, empty ledger"),
    "anchor again": (_anchor, None, None),
}


def _child(which: str, files: str, work: str) -> None:
    _run, name, _base = _CASES[which]
    if name is None:
        measured = _anchor(Path(files), Path(work))
    else:
        measured = _import(Path(files), Path(work), name)
    print(json.dumps(measured))


def measure(which: str, files: Path, root: Path) -> dict[str, Any]:
    """One case in a fresh process, in its own folder (a copy of its starting ledger)."""
    work = root / which.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "")
    _run, _name, base = _CASES[which]
    if base is not None and base != "large":
        # Starts from the ledger another case left (its folder is reused, not copied).
        work = root / base.replace(" ", "-").replace(",", "")
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        if base == "large":
            shutil.copytree(root / "large" / "ledger", work / "ledger", symlinks=True)
    return measure_child(
        which, [__file__, "--child", which, str(files), str(work)], work / "child.out"
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "FILES", "WORK"))
    parser.add_argument("--only", choices=list(_CASES), action="append")
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="winback-import-bench-") as tmp:
        root = Path(tmp)
        files = root / "files"
        files.mkdir()
        print(f"generating {args.rows:,} orders, a messy copy and another file …", flush=True)
        generate(files / "clean.csv", args.rows)
        generate(files / "messy.csv", args.rows, messy=True)
        generate(files / "other.csv", args.rows, first=10 * args.rows)
        print(f"file: {(files / 'clean.csv').stat().st_size / 1e9:.2f} GB", flush=True)
        from winback.ledger.importer import import_file
        from winback.ledger.store import Ledger

        print("building the large ledger …", flush=True)
        import_file(
            Ledger(root / "large" / "ledger"),
            "orders",
            files / "other.csv",
            rejects_dir=root / "large" / "rj",
        )
        print(f"load average before: {_load()}", flush=True)
        results = {}
        for which in args.only or list(_CASES):
            print(f"measuring {which} …", flush=True)
            results[which] = measure(which, files, root)
        print(f"load average after:  {_load()}")
        _report(results, args.rows)


def _report(results: dict[str, dict[str, Any]], rows: int) -> None:
    anchors = [results[k]["cpu"] for k in ("anchor", "anchor again") if k in results]
    anchor = min(anchors) if anchors else None
    print()
    print(f"{'':26s} {'cpu s':>8s} {'wall s':>8s} {'peak MB':>8s} {'cpu/anchor':>10s}  records")
    for which, r in results.items():
        ratio = f"{r['cpu'] / anchor:9.2f}x" if anchor else ""
        counts = (
            f"stored {r['stored']:,}, rejected {r['rejected']:,}, duplicates {r['duplicates']:,}"
            if "stored" in r
            else f"{r['rows']:,} rows"
        )
        print(
            f"{which:26s} {r['cpu']:8.1f} {r['seconds']:8.1f} {r['peak_mb']:8.0f} {ratio:>10s}"
            f"  {counts}"
        )
    print(f"goals: clean, empty ledger <= 1.5x; clean, large ledger ({rows:,} stored) <= 1.7x")


if __name__ == "__main__":
    main()
