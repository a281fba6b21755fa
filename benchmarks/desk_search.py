"""Desk search: find a customer by name (with typos), e-mail, phone or part of the id.

Builds a ledger of ``--customers`` synthetic customers (names from 300 first and 700 last
names, so many share a name; e-mails; phones written several ways), the search index as
``winback sync`` builds it, and a desk database (SQLite) with one rep. Then times
``search_customers`` (the function the page and the API call, open-case lookup included)
over ``--queries`` queries, a quarter of each kind:

- a name with two letters swapped in each word ("Jonh Smiht");
- part of an id (6 of its 8 characters);
- a phone written another way ("+1 (555) 010-2000" for 5550102000);
- an e-mail in another case.

Prints p50 and p95 wall and CPU per query, how often the wanted customer (or one of the
same name, for a name) was among the results, and, as the same-run anchor, the same kind
of query answered by one DuckDB scan of the ledger's customers (ILIKE on id, name and
e-mail, the phone's digits, Jaro-Winkler on the name: what the search does without its
index). Goal (issue 13): p95 under 100 ms at 1M customers.

    uv run python benchmarks/desk_search.py                      # 1M customers
    uv run python benchmarks/desk_search.py --customers 100000 --queries 200
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import string
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from winback.desk import search, users
from winback.desk.db import make_engine, migrate, open_session
from winback.desk.matching import fold
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

FIRST = [
    "".join(random.Random(i).choices(string.ascii_lowercase, k=random.Random(-i).randint(4, 7)))
    for i in range(300)
]
LAST = [
    "".join(random.Random(k).choices(string.ascii_lowercase, k=random.Random(-k).randint(5, 9)))
    for k in range(1000, 1700)
]


def write_customers(path: Path, customers: int) -> None:
    """``customers`` rows: id C0000000.., a name, an e-mail and a phone in varied formats."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE f AS SELECT * FROM (VALUES "
        + ", ".join(f"({i}, '{n}')" for i, n in enumerate(FIRST))
        + ") t(i, n)"
    )
    con.execute(
        "CREATE TABLE l AS SELECT * FROM (VALUES "
        + ", ".join(f"({i}, '{n}')" for i, n in enumerate(LAST))
        + ") t(i, n)"
    )
    con.execute(
        f"""COPY (
            SELECT 'C' || lpad(CAST(r AS VARCHAR), 7, '0') AS customer_id,
                   upper(f.n[1]) || f.n[2:] || ' ' || upper(l.n[1]) || l.n[2:] AS name,
                   f.n || '.' || l.n || (r % 97) || '@example.com' AS email,
                   CASE r % 3 WHEN 0 THEN '+1 (' || p[1:3] || ') ' || p[4:6] || '-' || p[7:10]
                              WHEN 1 THEN p[1:3] || ' ' || p[4:6] || ' ' || p[7:10]
                              ELSE p END AS phone
            FROM (SELECT r, lpad(CAST(hash(r) % 10000000000 AS VARCHAR), 10, '5') AS p,
                         hash(r * 7) % {len(FIRST)} AS fi, hash(r * 13) % {len(LAST)} AS li
                  FROM range({customers}) t(r)) c
            JOIN f ON f.i = c.fi JOIN l ON l.i = c.li
        ) TO '{path}' (HEADER)"""
    )
    con.close()


def typo(name: str, rng: random.Random) -> str:
    """Two neighbouring letters swapped in each word."""
    words = []
    for word in name.split():
        i = rng.randrange(1, len(word) - 1)
        words.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return " ".join(words)


def queries(ledger: Ledger, count: int, seed: int = 5) -> list[tuple[str, str, Any]]:
    """(kind, query, what a right answer holds) for ``count`` random customers."""
    con = ledger.connect()
    picked = con.execute(
        f"SELECT customer_id, name, email, phone FROM customers USING SAMPLE {count} ROWS"
    ).fetchall()
    con.close()
    rng = random.Random(seed)
    made: list[tuple[str, str, Any]] = []
    for n, (cid, name, email, phone) in enumerate(picked):
        kind = ("name", "id", "phone", "email")[n % 4]
        if kind == "name":
            made.append((kind, typo(name, rng), fold(name)))
        elif kind == "id":
            start = rng.randrange(0, 3)
            made.append((kind, cid[start : start + 6].lower(), cid))
        elif kind == "phone":
            digits = "".join(c for c in phone if c.isdigit())
            made.append((kind, f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}", cid))
        else:
            made.append((kind, email.upper(), cid))
    return made


def found(kind: str, query: str, wanted: Any, hits: list[search.Hit]) -> bool:
    if kind == "name":
        return any(fold(h.name) == wanted for h in hits)
    if kind == "id":  # a part of an id matches many ids: right when the first ones hold it
        return bool(hits) and query in hits[0].customer_id.lower()
    return any(h.customer_id == wanted for h in hits)


def timed(call: Callable[[], list[search.Hit]]) -> tuple[float, float, list[search.Hit]]:
    wall, cpu = time.perf_counter(), time.process_time()
    hits = call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, hits


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(label: str, walls: list[float], cpus: list[float], anchor: float | None) -> None:
    p50 = statistics.median(walls)
    ratio = f"  {p50 / anchor:6.3f}x anchor" if anchor else ""
    print(
        f"{label:<34} p50 {p50:7.1f} ms  p95 {pct(walls, 95):7.1f} ms  "
        f"cpu p50 {statistics.median(cpus):7.1f} ms  p95 {pct(cpus, 95):7.1f} ms{ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--anchor-queries", type=int, default=40)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="winback-bench-search-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        ledger = Ledger(home / "ledger")
        if ledger.manifest().batches == 0:
            started = time.perf_counter()
            write_customers(home / "customers.csv", args.customers)
            result = import_file(
                ledger, "customers", home / "customers.csv", rejects_dir=home / "rejects"
            )
            print(f"ledger: {result.stored:,} customers in {time.perf_counter() - started:.1f} s")
        started, cpu = time.perf_counter(), time.process_time()
        folder = search.build(search.root_of(home), ledger, None)
        assert folder is not None
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(
            f"index: built in {time.perf_counter() - started:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU (this process), {size:.0f} MB on disk"
        )
        (home / "desk.sqlite3").unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{home / 'desk.sqlite3'}")
        migrate(engine)
        reader = search.SearchReader(search.root_of(home))
        asked = queries(ledger, args.queries)
        with open_session(engine) as db:
            rep = users.create_user(
                db, None, username="rep", name="Rep", role="rep", password="a long password 1"
            )
            search.search_customers(db, rep, "warm up", ledger=ledger, reader=reader)

            def run(q: str) -> list[search.Hit]:
                return search.search_customers(db, rep, q, ledger=ledger, reader=reader)

            anchor_walls, anchor_cpus = [], []
            for _, q, _ in asked[: args.anchor_queries]:
                wall, cpu_ms, _ = timed(
                    lambda q=q: search.scan_ledger(ledger, search.parse(q), search.LIMIT)
                )
                anchor_walls.append(wall)
                anchor_cpus.append(cpu_ms)
            anchor = statistics.median(anchor_walls)
            by_kind: dict[str, tuple[list[float], list[float], list[bool]]] = {}
            for kind, q, wanted in asked:
                wall, cpu_ms, hits = timed(lambda q=q: run(q))
                walls, cpus, oks = by_kind.setdefault(kind, ([], [], []))
                walls.append(wall)
                cpus.append(cpu_ms)
                oks.append(found(kind, q, wanted, hits))
        engine.dispose()
        print(f"{args.customers:,} customers, {len(asked)} queries (a quarter of each kind)")
        report("anchor: DuckDB scan of the ledger", anchor_walls, anchor_cpus, None)
        every_wall = [w for walls, _, _ in by_kind.values() for w in walls]
        every_cpu = [c for _, cpus, _ in by_kind.values() for c in cpus]
        report("search (all kinds)", every_wall, every_cpu, anchor)
        for kind, (walls, cpus, oks) in by_kind.items():
            report(f"  {kind} ({sum(oks)}/{len(oks)} found)", walls, cpus, anchor)
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
