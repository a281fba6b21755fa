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
the case closed; then it also times the rep's task list and the manager's dashboard
(headline figures and reasons x revenue, page and API) over those N worked cases:
"rebuilt" closes one more open case through the desk (untimed) before every request, so
each request builds the dashboard from changed data; "kept" asks again with nothing
changed.

Prints p50, p95 and p99 in ms, the wall and CPU seconds of each row's requests (CPU of
this process: the server thread and the client, not PostgreSQL's), p50 and p95 as ratios
to the anchor's measured in the same run, and the load average before and after (the
machine may be shared). Goal (issues 6 and 13): p95 under 150 ms on PostgreSQL.
``--keep DIR`` keeps the built database and files for another run (which closes more
cases).

    uv run python benchmarks/desk_latency.py                      # 1M customers, 100k cases
    uv run python benchmarks/desk_latency.py --customers 100000 --cases 10000
    uv run python benchmarks/desk_latency.py --orders 20000000    # with a ledger timeline
    uv run python benchmarks/desk_latency.py --keep /tmp/desk-1m     # build once, time again
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import uvicorn
from sqlalchemy import Engine, bindparam, select, text

from winback.desk import cases, scan_lookup, users
from winback.desk.db import make_engine, migrate, open_session
from winback.desk.models import User
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


def _time(
    client: httpx.Client, paths: list[str], before: Callable[[int], None] | None = None
) -> tuple[list[float], float, float]:
    """Each path's wall time in ms, and the wall and CPU seconds of the requests (this
    process: the server's thread and the client; PostgreSQL's own work is not in it).
    ``before(i)`` runs untimed before request ``i``: the change a rebuilt row makes."""
    timings, cpu = [], 0.0
    for i, path in enumerate(paths):
        if before is not None:
            before(i)
        started, cpu_started = time.perf_counter(), time.process_time()
        answer = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        cpu += time.process_time() - cpu_started
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")
    return timings, sum(timings) / 1000, cpu


class Changes:
    """The desk's data changed between two timed requests, as a manager working would:
    each change closes one more open case (declined: no contact needed) through the
    desk's own close, in its own transaction, untimed. The dashboard built before it is
    then out of date: the newest audit id moved, so the next request builds it again."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with open_session(engine) as db:
            self.case_ids = [
                r[0]
                for r in db.execute(
                    text("SELECT id FROM cases WHERE state <> 'closed' ORDER BY priority DESC")
                ).all()
            ]
        self.made = 0

    def __call__(self, _: int) -> None:
        with open_session(self.engine) as db:
            boss = db.scalar(select(User).where(User.username == "boss"))
            assert boss is not None
            cases.close_case(
                db, boss, self.case_ids[self.made], "declined", "benchmark", policy=Policy()
            )
        self.made += 1


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
    parser.add_argument(
        "--only",
        nargs="*",
        default=[],
        help="time only the rows whose label holds one of these words (the anchor always)",
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
        started = time.perf_counter()
        scan_lookup.lookup_file(run)  # winback sync's last step, as the cycle runs it
        seconds = time.perf_counter() - started
        print(f"customer-sorted lookup copy of the run (winback sync's step): {seconds:.1f} s")
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
    timeout = httpx.Timeout(120.0)  # a shared, loaded machine: slow is measured, not fatal
    try:
        with (
            httpx.Client(base_url=base, timeout=timeout) as rep,
            httpx.Client(base_url=base, timeout=timeout) as boss,
        ):
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
            changes = Changes(engine)
            Row = tuple[httpx.Client, list[str], Callable[[int], None] | None]
            paths: dict[str, Row] = {
                "anchor (SELECT 1 through the stack)": (rep, ["/bench/anchor"] * n, None),
                "rep queue page, page 1": (rep, ["/queue"] * n, None),
                "rep queue page, pages 1-5": (
                    rep,
                    [f"/queue?page={1 + i % 5}" for i in range(n)],
                    None,
                ),
                "rep queue API": (rep, ["/api/queue"] * n, None),
                "manager view, tier + min value": (
                    boss,
                    ["/cases?tier=rep&min_value=200"] * n,
                    None,
                ),
                "customer page": (
                    rep,
                    [f"/customers/{rng.choice(customer_ids)}" for _ in range(n)],
                    None,
                ),
            }
            if args.worked:
                paths["rep's task list"] = (rep, ["/tasks"] * n, None)
                # Before each request a case is closed (untimed): the dashboard is built
                # again from the changed data, as after every change on the desk.
                paths["dashboard, rebuilt (a case closed)"] = (boss, ["/dashboard"] * n, changes)
                paths["dashboard, kept (data unchanged)"] = (boss, ["/dashboard"] * n, None)
                paths["reasons x revenue API, rebuilt"] = (
                    boss,
                    ["/api/reports/reasons"] * n,
                    changes,
                )

                started = time.perf_counter()
                boss.get("/dashboard/report.html?since=2020-01-01")
                cold = (time.perf_counter() - started) * 1000
                print(f"report file, first request: {cold:.0f} ms")
            rep.headers["Authorization"] = f"Bearer {token}"
            boss.headers["Authorization"] = f"Bearer {boss_token}"
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(
                f"\n{'what':<38} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'wall s':>7} "
                f"{'CPU s':>6} {'p50/anch':>8} {'p95/anch':>8}"
            )
            anchor: tuple[float, float] | None = None
            for label, (client, targets, before) in paths.items():
                wanted = label.startswith("anchor") or any(w in label for w in args.only)
                if args.only and not wanted:
                    continue
                # Warm up on the last few (kept reports are evicted by then).
                _time(client, targets[-max(5, n // 20) :], before)
                timings, wall, cpu = _time(client, targets, before)
                cuts = statistics.quantiles(timings, n=100, method="inclusive")
                p50, p95, p99 = statistics.median(timings), cuts[94], cuts[98]
                anchor = anchor or (p50, p95)
                print(
                    f"{label:<38} {p50:7.1f} {p95:7.1f} {p99:7.1f} {wall:7.2f} {cpu:6.2f} "
                    f"{p50 / anchor[0]:7.1f}x {p95 / anchor[1]:7.1f}x"
                )
            print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"cases closed by the rebuilt rows: {changes.made:,}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
