"""Desk latency: the rep queue and the customer page at 1M customers and 100k open cases.

Builds a fresh PostgreSQL database (or SQLite with --sqlite), a scan run with
``--customers`` rows of which ``--cases`` are on the list, users (a manager, executives
and reps), and runs ``winback sync`` on it (the real path: assignment and audit rows).
Then serves the app with uvicorn on a free loopback port and times, over real HTTP with
a logged-in session:

- anchor: a route on the same app, through the same stack (session cookie, user lookup,
  a database session), whose only query is ``SELECT 1``;
- the rep queue page (/queue) and its API twin (/api/queue);
- the manager's all-cases page filtered by tier and minimum value;
- the customer page (/customers/<id>): the scan's view and cases from the desk database,
  and, with ``--orders N``, a timeline from a ledger of N orders and N/4 interactions
  (imported first, then copied in customer order as ``winback sync`` does; without it
  the ledger is empty and the timeline holds the case only).

With ``--worked N`` (default 10,000), N of the cases are first worked: a finished guided
call each (reasons, verification, offer, outcome), a commitment and a follow-up task, and
the case closed; then it also times the rep's task list and the manager's reasons x
revenue dashboard (page and API) over those N worked cases.

Prints p50 and p95 in ms and each p50 as a ratio to the anchor's. Goal (issue 6): p95
under 150 ms on PostgreSQL.

    uv run python benchmarks/desk_latency.py                      # 1M customers, 100k cases
    uv run python benchmarks/desk_latency.py --customers 100000 --cases 10000
    uv run python benchmarks/desk_latency.py --orders 20000000    # with a ledger timeline
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import uvicorn
from sqlalchemy import Engine, bindparam, text

from winback.desk import users
from winback.desk.db import make_engine, migrate, open_session
from winback.desk.sync import sync_cases
from winback.ledger import timeline as timeline_index
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.runs import RUN_SCHEMA, RunInfo, write_run
from winback.settings import load_settings
from winback.web.app import create_app
from winback.web.deps import Db, PageUser

PASSWORD = "benchmark password"
REASONS = [
    "no order for {d} days, {x:.1f}x the usual interval",
    "p(alive) fell to {p:.2f}",
    "{n} late deliveries in the last year",
    "order volume down {v}% on last year",
    "no response to marketing for {m} months",
]


def scan_table(customers: int, cases: int, seed: int = 7) -> pa.Table:
    """A scan run: ``cases`` customers ranked (tier rep, 1 in 20 executive), the rest not."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:07d}" for i in range(customers)], dtype=object)
    ranked = rng.choice(customers, size=cases, replace=False)
    rank = np.full(customers, -1, dtype=np.int64)
    rank[ranked] = np.arange(1, cases + 1)
    on_list = rank > 0
    tier = np.where(on_list, np.where(rng.random(customers) < 0.05, "executive", "rep"), "none")
    status = np.where(on_list, rng.choice(["slipping", "lapsed", "lost"], customers), "active")
    days = rng.integers(30, 900, customers)
    reasons = [
        [
            REASONS[0].format(d=int(days[i]), x=days[i] / 60),
            REASONS[1 + i % 4].format(p=0.1, n=i % 5 + 1, v=10 + i % 50, m=i % 12 + 3),
        ]
        if on_list[i]
        else []
        for i in range(customers)
    ]
    columns: dict[str, Any] = {f.name: pa.nulls(customers, f.type) for f in RUN_SCHEMA}
    columns.update(
        customer_id=pa.array(ids, pa.string()),
        name=pa.array([f"Customer {i}" for i in range(customers)], pa.string()),
        segment=pa.array(rng.choice(["retail", "smb", "enterprise"], customers)),
        status=pa.array(status),
        last_order_date=pa.array(
            np.datetime64("2024-06-30") - days.astype("timedelta64[D]"), pa.date32()
        ),
        p_alive=pa.array(rng.random(customers)),
        predicted_value=pa.array(rng.gamma(2.0, 600.0, customers)),
        expected_value=pa.array(rng.gamma(2.0, 150.0, customers)),
        winback_odds=pa.array(rng.uniform(0.2, 0.4, customers)),
        decision=pa.array(np.where(on_list, "pursue", None)),
        tier=pa.array(tier),
        rank=pa.array(np.where(on_list, rank, None), pa.int64()),
        reasons=pa.array(reasons, pa.list_(pa.string())),
        decision_reasons=pa.array([["worth it"] if r else [] for r in on_list]),
    )
    return pa.table(columns)


def build_ledger(settings: Any, customers: int, orders: int) -> None:
    """Import ``orders`` orders and ``orders // 4`` interactions over the customers."""
    import duckdb

    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    work = settings.home / "files"
    work.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'O' || i AS order_id,
                   'C' || lpad(CAST(hash(i) % {customers} AS VARCHAR), 7, '0') AS customer_id,
                   DATE '2021-01-01' + CAST(hash(i * 7) % 1200 AS INTEGER) AS order_date,
                   round(5 + (hash(i * 13) % 50000) / 100.0, 2) AS amount,
                   'rep' || (hash(i * 3) % 50) AS staff_id
            FROM range({orders}) t(i)) TO '{work / "orders.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 'I' || i AS interaction_id,
                   'C' || lpad(CAST(hash(i * 5) % {customers} AS VARCHAR), 7, '0') AS customer_id,
                   TIMESTAMP '2021-01-01' + to_hours(CAST(hash(i * 11) % 28000 AS INTEGER))
                       AS occurred_at,
                   'call' AS channel, 'rep' || (hash(i * 3) % 50) AS staff_id
            FROM range({orders // 4}) t(i)) TO '{work / "interactions.csv"}' (HEADER)"""
    )
    con.close()
    ledger = Ledger(settings.ledger_dir)
    for table in ("orders", "interactions"):
        started = time.perf_counter()
        result = import_file(ledger, table, work / f"{table}.csv", rejects_dir=settings.rejects_dir)
        seconds = time.perf_counter() - started
        print(f"ledger: {result.stored:,} {table} imported in {seconds:.1f} s")


def work_cases(engine: Engine, count: int, seed: int = 11) -> None:
    """Close ``count`` assigned cases as if their reps had called: one finished call each,
    a commitment and a follow-up on the owner's list (some overdue). Bulk inserts."""
    from datetime import date, datetime, timedelta

    from winback.desk.models import Call, Case, Task

    rng = np.random.default_rng(seed)
    codes = ["price", "delivery", "service", "billing", "competitor", "product_quality"]
    offers = ["none", "price_break", "coupon", "guarantee", "plus_extra"]
    outcomes = ["won_back", "declined", "unreachable", "will_return"]
    now = datetime(2024, 7, 1, 12)
    with engine.begin() as c:
        chosen = c.execute(
            text(
                "SELECT id, owner_id, customer_id FROM cases WHERE owner_id IS NOT NULL "
                "ORDER BY priority LIMIT :n"
            ),
            {"n": count},
        ).all()
        calls, tasks, closes = [], [], []
        for case_id, owner_id, customer_id in chosen:
            outcome = outcomes[int(rng.integers(len(outcomes)))]
            reasons = list(rng.choice(codes, size=int(rng.integers(1, 3)), replace=False))
            calls.append(
                {
                    "case_id": case_id,
                    "user_id": owner_id,
                    "source": "api",
                    "step": "follow_up",
                    "started_at": now,
                    "updated_at": now,
                    "finished_at": now,
                    "apology": "sorry",
                    "listening": "notes",
                    "reasons": reasons,
                    "verification": "yes" if rng.random() < 0.7 else "partly",
                    "correction": "",
                    "customer_words": "the deliveries were late again and again",
                    "asks": "a fixed day",
                    "offer_kind": offers[int(rng.integers(len(offers)))],
                    "offer_text": "",
                    "outcome": outcome,
                }
            )
            for kind, days in (("commitment", -3), ("follow_up", 7)):
                tasks.append(
                    {
                        "kind": kind,
                        "title": f"{kind} for {customer_id}",
                        "customer_id": customer_id,
                        "case_id": case_id,
                        "owner_id": owner_id,
                        "due_on": date(2026, 11, 1) + timedelta(days=int(days + rng.integers(60))),
                        "created_at": now,
                        "result": "",
                    }
                )
            closes.append(
                {
                    "i": case_id,
                    "o": outcome,
                    "v": float(rng.gamma(2.0, 600.0)),
                }
            )
        c.execute(Call.__table__.insert(), calls)
        c.execute(Task.__table__.insert(), tasks)
        c.execute(
            Case.__table__.update()
            .where(Case.__table__.c.id == bindparam("i"))
            .values(
                state="closed",
                outcome=bindparam("o"),
                contacted=True,
                closed_at=now,
                value_before=bindparam("v"),
            ),
            closes,
        )


def _postgres(prefix: str = "winback_bench_") -> tuple[Engine, Any, str]:
    import psycopg

    for base in ("postgresql://postgres@127.0.0.1:5432", "postgresql://root@127.0.0.1:5432"):
        try:
            admin = psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3)
        except psycopg.OperationalError:
            continue
        name = prefix + secrets.token_hex(4)
        admin.execute(f'CREATE DATABASE "{name}"')
        return make_engine(f"{base}/{name}"), admin, name
    raise SystemExit("PostgreSQL does not answer on 127.0.0.1:5432")


def _distinct_days(count: int) -> list[str]:
    """``count`` different dates, all before any case: the same report, never kept."""
    from datetime import date, timedelta

    return [(date(1990, 1, 1) + timedelta(days=i)).isoformat() for i in range(count)]


def _time(client: httpx.Client, paths: list[str]) -> list[float]:
    timings = []
    for path in paths:
        started = time.perf_counter()
        answer = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--orders", type=int, default=0, help="orders in the ledger (default none)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--worked", type=int, default=10_000, help="cases worked and closed (calls, tasks)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="build into this folder and keep it (and its PostgreSQL database); "
        "when it already holds one, time that again without building",
    )
    args = parser.parse_args()

    kept = args.keep is not None and (args.keep / "database").exists()
    work = args.keep or Path(tempfile.mkdtemp(prefix="winback-desk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=work, secret_key="desk latency benchmark " * 3)
    admin = name = None
    if args.sqlite:
        engine = make_engine(f"sqlite:///{work / 'desk.sqlite3'}")
    elif kept:
        engine = make_engine((work / "database").read_text(encoding="utf-8").strip())
    else:
        engine, admin, name = _postgres("winback_bench_latency_" if args.keep else "winback_bench_")
        if args.keep:
            (work / "database").write_text(engine.url.render_as_string(False), encoding="utf-8")
    if kept or (args.keep and args.sqlite and (work / "runs").exists()):
        try:
            _serve_and_measure(settings, engine, args)
        finally:
            engine.dispose()
        return
    try:
        migrate(engine)
        if args.orders:
            build_ledger(settings, args.customers, args.orders)
        started = time.perf_counter()
        table = scan_table(args.customers, args.cases)
        run = write_run(
            settings.runs_dir, RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01", 1), table
        )
        print(
            f"scan run: {args.customers:,} customers, {args.cases:,} listed "
            f"({time.perf_counter() - started:.1f} s)"
        )
        with open_session(engine) as db:
            users.create_user(
                db, None, username="boss", name="Boss", role="manager", password=PASSWORD
            )
            for i in range(5):
                users.create_user(
                    db,
                    None,
                    username=f"exec{i}",
                    name=f"Exec {i}",
                    role="executive",
                    password=PASSWORD,
                )
            for i in range(args.reps):
                users.create_user(
                    db, None, username=f"rep{i}", name=f"Rep {i}", role="rep", password=PASSWORD
                )
            started = time.perf_counter()
            result = sync_cases(db, None, run, policy=Policy())
            seconds = time.perf_counter() - started
            print(f"winback sync: {result.opened:,} cases opened in {seconds:.1f} s")
        if args.orders:
            started = time.perf_counter()
            timeline_index.build(timeline_index.root_of(settings.home), Ledger(settings.ledger_dir))
            seconds = time.perf_counter() - started
            print(f"customer-ordered timeline copy (winback sync's last step): {seconds:.1f} s")
        if args.worked:
            started = time.perf_counter()
            work_cases(engine, args.worked)
            seconds = time.perf_counter() - started
            print(
                f"worked cases: {args.worked:,} calls, tasks and closes written in {seconds:.1f} s"
            )
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        _serve_and_measure(settings, engine, args)
    finally:
        engine.dispose()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        if admin is not None:
            if args.keep is None:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def _serve_and_measure(settings: Any, engine: Engine, args: argparse.Namespace) -> None:
    app = create_app(settings, engine=engine)

    @app.get("/bench/anchor")
    def anchor(db: Db, user: PageUser) -> dict[str, int]:
        return {"one": db.execute(text("SELECT 1")).scalar_one()}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base) as rep, httpx.Client(base_url=base) as boss:
            for client, who in ((rep, "rep7"), (boss, "boss")):
                page = client.get("/login").text
                csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
                client.post(
                    "/login", data={"username": who, "password": PASSWORD, "csrf_token": csrf}
                )
            with open_session(engine) as db:
                me = users.authenticate(db, "rep7", PASSWORD)
                _, token = users.create_api_token(db, me, "bench")
                chief = users.authenticate(db, "boss", PASSWORD)
                _, boss_token = users.create_api_token(db, chief, "bench")
                customer_ids = [
                    r[0]
                    for r in db.execute(text("SELECT customer_id FROM cases ORDER BY id")).all()
                ]
            rng = random.Random(1)
            n = args.requests
            paths = {
                "anchor (SELECT 1 through the stack)": (rep, ["/bench/anchor"] * n),
                "rep queue page, page 1": (rep, ["/queue"] * n),
                "rep queue page, pages 1-5": (rep, [f"/queue?page={1 + i % 5}" for i in range(n)]),
                "rep queue API": (rep, ["/api/queue"] * n),
                "manager view, tier + min value": (boss, ["/cases?tier=rep&min_value=200"] * n),
                "customer page": (
                    rep,
                    [f"/customers/{rng.choice(customer_ids)}" for _ in range(n)],
                ),
            }
            if args.worked:
                paths["rep's task list"] = (rep, ["/tasks"] * n)
                # A distinct `since` (all before any case) each time: the report is rebuilt,
                # as after every change on the desk; the same URL again is the kept report.
                paths["dashboard, rebuilt (data changed)"] = (
                    boss,
                    [f"/dashboard?since={d}" for d in _distinct_days(n // 4)],
                )
                paths["dashboard, kept (data unchanged)"] = (boss, ["/dashboard"] * n)
                paths["reasons x revenue API, rebuilt"] = (
                    boss,
                    [f"/api/reports/reasons?since={d}" for d in _distinct_days(n // 4)],
                )

                started = time.perf_counter()
                boss.get("/dashboard/report.html?since=2020-01-01")
                cold = (time.perf_counter() - started) * 1000
                print(f"report file, first request (charts drawn cold): {cold:.0f} ms")
            rep.headers["Authorization"] = f"Bearer {token}"
            boss.headers["Authorization"] = f"Bearer {boss_token}"
            print(f"\n{'what':<38} {'p50 ms':>8} {'p95 ms':>8} {'p50/anchor':>11}")
            anchor_p50 = None
            for label, (client, targets) in paths.items():
                _time(
                    client, targets[-max(5, n // 20) :]
                )  # warm up (the last: kept reports are evicted by then)
                timings = _time(client, targets)
                p50 = statistics.median(timings)
                p95 = statistics.quantiles(timings, n=20)[18]
                anchor_p50 = anchor_p50 or p50
                print(f"{label:<38} {p50:8.1f} {p95:8.1f} {p50 / anchor_p50:10.1f}x")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
