"""Desk lists at scale: sorting, paging, totals and CSV of 100,000 cases in SQL.

Builds a fresh PostgreSQL database (or SQLite with --sqlite) holding ``--cases`` cases
(a fifth closed) spread over ``--reps`` reps, and an open task for one case in five, half
of them overdue; then times the desk's list reads (winback.desk.lists), each a page of 50
with the whole list's count and worth sum, against an anchor measured in the same run
(``SELECT 1`` through the same session). Prints p50 and p95 wall ms, CPU ms per read and
each p50 as a ratio to the anchor's.

    uv run python benchmarks/desk_lists.py                    # PostgreSQL, 100k cases
    uv run python benchmarks/desk_lists.py --sqlite --cases 20000
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from winback.desk import cases, lists, users
from winback.desk.db import make_engine, migrate, open_session
from winback.desk.listing import ListQuery
from winback.desk.models import Case, Task, utcnow

PASSWORD = "benchmark password"


def _postgres() -> tuple[Engine, Any, str]:
    import psycopg

    for base in ("postgresql://postgres@127.0.0.1:5432", "postgresql://root@127.0.0.1:5432"):
        try:
            admin = psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3)
        except psycopg.OperationalError:
            continue
        name = "winback_bench_lists_" + secrets.token_hex(4)
        admin.execute(f'CREATE DATABASE "{name}"')
        return make_engine(f"{base}/{name}"), admin, name
    raise SystemExit("PostgreSQL does not answer on 127.0.0.1:5432")


def fill(engine: Engine, count: int, reps: list[int], seed: int = 5) -> None:
    rng = random.Random(seed)
    now = utcnow()
    rows = []
    for i in range(count):
        closed = i % 5 == 4
        rows.append(
            {
                "customer_id": f"C{i:07d}",
                "customer_name": f"Customer {rng.randrange(10**6):06d}",
                "state": "closed" if closed else "open",
                "outcome": "declined" if closed else None,
                "contacted": False,
                "owner_id": rng.choice(reps),
                "priority": i + 1,
                "rank": i + 1,
                "run_id": "bench",
                "customer_status": rng.choice(("lapsed", "lost", "at_risk")),
                "tier": "rep",
                "expected_value": None if i % 50 == 0 else round(rng.uniform(5, 5000), 2),
                "reasons": ["no order for 200 days", "price rise"],
                "decision_reasons": [],
                "reasons_text": "no order for 200 days; price rise",
                "intangibles": {},
                "opened_at": now,
                "updated_at": now,
                "urgent": False,
            }
        )
    with engine.begin() as connection:
        for start in range(0, count, 10_000):
            connection.execute(insert(Case), rows[start : start + 10_000])
        ids = [r[0] for r in connection.execute(text("SELECT id, owner_id FROM cases"))]
        owners = dict(connection.execute(text("SELECT id, owner_id FROM cases")).all())
        today = date.today()
        tasks = [
            {
                "kind": "commitment",
                "title": "call back",
                "customer_id": f"C{case_id:07d}",
                "case_id": case_id,
                "owner_id": owners[case_id],
                "due_on": today + timedelta(days=rng.randint(-30, 30)),
                "created_at": now,
                "result": "",
            }
            for case_id in ids[::5]
        ]
        for start in range(0, len(tasks), 10_000):
            connection.execute(insert(Task), tasks[start : start + 10_000])


def measure(label: str, read: Callable[[], Any], n: int, anchor: float | None) -> float:
    read()  # warm up
    walls, cpus = [], []
    for _ in range(n):
        wall, cpu = time.perf_counter(), time.process_time()
        read()
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    p50 = statistics.median(walls)
    p95 = statistics.quantiles(walls, n=20)[18] if n >= 20 else max(walls)
    ratio = f"{p50 / anchor:9.1f}x" if anchor else f"{'1.0x':>10}"
    print(f"{label:<44} {p50:8.1f} {p95:8.1f} {statistics.median(cpus):8.1f} {ratio}")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="winback-bench-lists-"))
    admin = name = None
    if args.sqlite:
        engine = make_engine(f"sqlite:///{work / 'desk.sqlite3'}")
    else:
        engine, admin, name = _postgres()
    try:
        migrate(engine)
        with open_session(engine) as db:
            boss = users.create_user(
                db, None, username="boss", name="Boss", role="manager", password=PASSWORD
            )
            reps = [
                users.create_user(
                    db, None, username=f"rep{i}", name=f"Rep {i}", role="rep", password=PASSWORD
                ).id
                for i in range(args.reps)
            ]
        started = time.perf_counter()
        fill(engine, args.cases, reps)
        print(
            f"{args.cases:,} cases and their tasks written in {time.perf_counter() - started:.1f} s"
        )
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        n = args.requests
        print(
            f"\n{'what (a page of 50 with count and sum)':<44} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'cpu ms':>8} {'p50/anchor':>10}"
        )
        with open_session(engine) as db:
            boss = users.authenticate(db, "boss", PASSWORD)
            rep = users.authenticate(db, "rep7", PASSWORD)
            anyone = cases.CaseFilter()
            anchor = measure(
                "anchor: SELECT 1", lambda: db.execute(text("SELECT 1")).one(), n, None
            )
            reads: dict[str, Callable[[], Any]] = {
                # The manager view before these lists: the same order, no totals.
                "reference: cases.search_cases, page 1": lambda: cases.search_cases(
                    db, boss, anyone
                ),
                "all cases, queue order": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("priority", False)
                ),
                "all cases, worth high to low": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("worth", True)
                ),
                "all cases, worth, page 1000": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("worth", True, page=1000)
                ),
                "all cases, name": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("name", False)
                ),
                "all cases, owner": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("owner", False)
                ),
                "all cases, next due": lambda: lists.all_cases(
                    db, boss, anyone, ListQuery("due", False)
                ),
                "all cases, status lost, worth": lambda: lists.all_cases(
                    db, boss, cases.CaseFilter(status="lost"), ListQuery("worth", True)
                ),
                "rep queue, worth": lambda: lists.queue(db, rep, ListQuery("worth", True)),
                "overdue tasks, due": lambda: lists.overdue(db, boss, ListQuery("due", False)),
            }
            for label, read in reads.items():
                measure(label, read, n, anchor)
            measure(
                "CSV of every active case (80k rows)",
                lambda: lists.cases_csv(db, boss, anyone, ListQuery("worth", True)),
                max(3, n // 10),
                anchor,
            )
    finally:
        engine.dispose()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    main()
