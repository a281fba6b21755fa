"""Desk load: N simulated reps at once against ``winback serve --workers K`` on PostgreSQL.

Builds a fresh PostgreSQL database (created here, dropped at the end), a scan run of
``--customers`` customers of which ``--cases`` are on the list, one rep per simulated user
(and an API token each), and runs ``winback sync`` on it so every rep holds a queue. Then
starts ``winback serve --workers K`` as a real subprocess (the production path: uvicorn's
worker processes, the factory ``winback.web.app:served_app``, settings from the
environment) and lets every user:

1. log in through the login form (GET /login, POST /login with the CSRF token), arriving
   at random over ``--ramp`` seconds (not timed; a login that fails is counted apart);
2. then, until the time is up, pick an action, wait a think time (exponential, mean
   ``--think`` seconds; 0 hammers), and do it:
   the queue page (/queue), the queue API (/api/queue), a customer page
   (/customers/<id>), a case from the API (/api/cases/<id>), or a guided call on one of
   their own cases through the API: start it and answer apology, listening, diagnosis,
   verification and asks (six writes, each its own transaction and audit row).

An anchor is measured in the same run, under the same load: a static file
(/static/app/desk.css) fetched twice a second by one more client. Prints, for the timed
phase: requests/s, errors, p50/p95/p99 overall and per action, the anchor's p50 and each
p50 as a ratio to it, the server's CPU seconds (all its processes) and the load
generator's beside the wall time, and the machine's load average before and after.

Goals (issue 12): 50 users p95 < 300 ms and 0 errors; 200 users 0 errors.

    uv run python benchmarks/desk_load.py                         # 50 users, 2 workers, 60 s
    uv run python benchmarks/desk_load.py --users 200 --workers 2
    uv run python benchmarks/desk_load.py --think 0 --duration 30  # closed loop, no pauses
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import secrets
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_latency import _postgres, scan_table
from winback.desk import users
from winback.desk.db import migrate, open_session
from winback.desk.sync import sync_cases
from winback.policy import Policy
from winback.scan.runs import RunInfo, write_run
from winback.settings import load_settings

PASSWORD = "benchmark password 2026"
# One TLS context for every simulated user (the server is plain HTTP on the loopback): each
# client would otherwise build its own, loading the CA bundle, and 200 of those at once
# starve the load generator, which then reads answers seconds late.
TLS = ssl.create_default_context()
# Seconds the server may take to answer its first request (a shared machine is slow).
STARTUP = 600
# uvicorn's access log line: '127.0.0.1:5555 - "GET /queue HTTP/1.1" 200 OK'.
ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]+)[^"]*" (?P<status>\d{3})')
ANCHOR = "/static/app/desk.css"
# Weights of each action a user picks next (a call is six requests).
ACTIONS = {"queue page": 3, "queue API": 2, "customer page": 3, "case API": 3, "guided call": 1}
CALL_STEPS = [
    ("apology", {"apology": "I am sorry we let you down"}),
    ("listening", {"listening": "deliveries came late three times"}),
    ("diagnosis", {"reasons": ["delivery"]}),
    ("verification", {"verification": "yes", "customer_words": "yes, that was it"}),
    ("asks", {"asks": "a fixed delivery day"}),
]


class Tally:
    """Every timed request: milliseconds per action, and the errors by kind."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        # One example of what the server said, per kind of error.
        self.said: dict[str, str] = {}
        self.logins: list[float] = []  # milliseconds each successful login took (untimed)
        self.timing = False

    async def request(
        self, client: httpx.AsyncClient, action: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            if self.timing:
                self.errors[f"{action}: {type(exc).__name__}"] += 1
            return None
        elapsed = (time.perf_counter() - started) * 1000
        if self.timing:
            self.ms[action].append(elapsed)
            if answer.status_code >= 400:
                kind = f"{action}: HTTP {answer.status_code}"
                self.errors[kind] += 1
                self.said.setdefault(kind, answer.text[:160])
        return answer


async def log_in(client: httpx.AsyncClient, username: str) -> None:
    page = await client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = await client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf}
    )
    if answer.status_code not in (200, 303) or "session" not in str(client.cookies):
        raise LoginRefusedError(answer.status_code, f"{username}: {answer.text[:160]!r}")


class LoginRefusedError(Exception):
    """A login the server refused: its status code and what it said."""

    def __init__(self, status: int, said: str) -> None:
        super().__init__(f"HTTP {status}: {said}")
        self.status = status


async def one_user(
    base: str,
    username: str,
    token: str,
    cases: list[int],
    customers: list[str],
    tally: Tally,
    until: list[float],
    think: float,
    seed: int,
    ready: list[int],
    go: asyncio.Event,
    ramp: float,
) -> None:
    rng = random.Random(seed)
    # People arrive over the ramp, not in one instant: 200 argon2 checks at once is a
    # login storm (issue 12 item 5), not a desk at work.
    await asyncio.sleep(rng.uniform(0, ramp))
    # Let a connection go well before the server's keep-alive (winback serve: 20 s) can
    # close it under a request, as a reverse proxy does; else a long pause ends in
    # RemoteProtocolError.
    limits = httpx.Limits(max_connections=2, keepalive_expiry=4.0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, verify=TLS) as client:
        started = time.perf_counter()
        try:
            await log_in(client, username)
            tally.logins.append((time.perf_counter() - started) * 1000)
        finally:
            ready[0] += 1
        await go.wait()
        api = {"Authorization": f"Bearer {token}"}
        unworked = list(cases)
        rng.shuffle(unworked)
        names, weights = zip(*ACTIONS.items(), strict=True)
        while time.monotonic() < until[0]:
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            action = rng.choices(names, weights)[0]
            if action == "queue page":
                await tally.request(client, action, "GET", "/queue")
            elif action == "queue API":
                await tally.request(client, action, "GET", "/api/queue", headers=api)
            elif action == "customer page":
                await tally.request(client, action, "GET", f"/customers/{rng.choice(customers)}")
            elif action == "case API":
                await tally.request(
                    client, action, "GET", f"/api/cases/{rng.choice(cases)}", headers=api
                )
            elif unworked:
                case_id = unworked.pop()
                started = await tally.request(
                    client, "call step", "POST", f"/api/cases/{case_id}/calls", headers=api
                )
                if started is None or started.status_code >= 400:
                    continue
                call_id = started.json()["id"]
                for step, answers in CALL_STEPS:
                    await tally.request(
                        client,
                        "call step",
                        "POST",
                        f"/api/calls/{call_id}/steps/{step}",
                        headers=api,
                        json=answers,
                    )


async def anchor_probe(base: str, tally: Tally, until: list[float]) -> None:
    limits = httpx.Limits(keepalive_expiry=4.0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, verify=TLS) as client:
        while time.monotonic() < until[0]:
            await tally.request(client, "anchor (static file)", "GET", ANCHOR)
            await asyncio.sleep(0.5)


async def run_load(
    base: str,
    people: list[tuple[str, str, list[int]]],
    customers: list[str],
    args: Any,
    server: int,
) -> None:
    tally = Tally()
    until = [float("inf")]
    ready, go = [0], asyncio.Event()
    tasks = [
        asyncio.create_task(
            one_user(
                base,
                name,
                token,
                cases,
                customers,
                tally,
                until,
                args.think,
                i,
                ready,
                go,
                args.ramp,
            )
        )
        for i, (name, token, cases) in enumerate(people)
    ]
    # Every login first (argon2 for each user; not timed), then the fixed duration, timed.
    started = time.monotonic()
    while ready[0] < len(tasks):
        await asyncio.sleep(0.2)
    print(f"{len(tasks)} users arrived ({time.monotonic() - started:.1f} s)", end="")
    if len(tally.logins) >= 2:
        cuts = statistics.quantiles(tally.logins, n=100)
        print(
            f"; {len(tally.logins)} logged in: p50 {statistics.median(tally.logins):.0f} ms, "
            f"p95 {cuts[94]:.0f} ms, slowest {max(tally.logins):.0f} ms",
            end="",
        )
    print()
    load_before = os.getloadavg()
    cpu_server = _cpu_seconds(server)
    cpu_self = _own_cpu()
    tally.timing = True
    started = time.monotonic()
    until[0] = started + args.duration
    go.set()
    probe = asyncio.create_task(anchor_probe(base, tally, until))
    results = await asyncio.gather(*tasks, probe, return_exceptions=True)
    wall = time.monotonic() - started
    cpu_server = _cpu_seconds(server) - cpu_server
    cpu_self = _own_cpu() - cpu_self
    failures = [r for r in results if isinstance(r, BaseException)]
    print(f"logins that failed (before the timed phase): {len(failures)}")
    _report(tally, wall, cpu_server, cpu_self, load_before, os.getloadavg(), failures, args)


def _report(
    tally: Tally,
    wall: float,
    cpu_server: float,
    cpu_self: float,
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
    failures: list[BaseException],
    args: Any,
) -> None:
    every = [ms for action, values in tally.ms.items() if "anchor" not in action for ms in values]
    errors = sum(tally.errors.values())
    anchor = statistics.median(tally.ms["anchor (static file)"] or [float("nan")])
    print(
        f"\n{args.users} users, {args.workers} workers, think {args.think} s, "
        f"{wall:.0f} s timed; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (2 cores shared)"
    )
    print(
        f"requests: {len(every):,} ({len(every) / wall:,.1f}/s), errors: {errors}; "
        f"CPU: server {cpu_server:.1f} s, load generator {cpu_self:.1f} s, over {wall:.1f} s wall"
    )
    print(
        f"\n{'what':<24} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p50/anchor':>11}"
    )
    rows = [("all but the anchor", every), *sorted(tally.ms.items())]
    for label, values in rows:
        if len(values) < 2:
            continue
        cuts = statistics.quantiles(values, n=100)
        p50 = statistics.median(values)
        print(
            f"{label:<24} {len(values):7,} {p50:8.1f} {cuts[94]:8.1f} {cuts[98]:8.1f} "
            f"{p50 / anchor:10.1f}x"
        )
    for what, count in tally.errors.most_common():
        example = f" ({tally.said[what]!r})" if what in tally.said else ""
        print(f"error x{count}: {what}{example}")
    kinds: dict[str, list[BaseException]] = defaultdict(list)
    for failure in failures:
        refused = isinstance(failure, LoginRefusedError)
        kinds[f"HTTP {failure.status}" if refused else type(failure).__name__].append(failure)
    for kind, those in sorted(kinds.items(), key=lambda item: -len(item[1])):
        print(f"failed login x{len(those)}: {kind} (e.g. {those[0]})")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and every process below it, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build(
    engine: Engine, work: Path, args: Any
) -> tuple[list[tuple[str, str, list[int]]], list[str]]:
    """The scan run, the reps and their tokens, and the cases synced: who holds which."""
    settings = load_settings(home=work)
    migrate(engine)
    table = scan_table(args.customers, args.cases)
    run = write_run(
        settings.runs_dir, RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01", 1), table
    )
    tokens = {}
    with open_session(engine) as db:
        for i in range(args.users):
            rep = users.create_user(
                db, None, username=f"rep{i}", name=f"Rep {i}", role="rep", password=PASSWORD
            )
            tokens[rep.username] = users.create_api_token(db, rep, "load")[1]
        result = sync_cases(db, None, run, policy=Policy())
        print(f"winback sync: {result.opened:,} cases over {args.users} reps")
        held: dict[str, list[int]] = defaultdict(list)
        for case_id, username in db.execute(
            text("SELECT c.id, u.username FROM cases c JOIN users u ON u.id = c.owner_id")
        ):
            held[username].append(case_id)
        customers = [r[0] for r in db.execute(text("SELECT customer_id FROM cases"))]
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    people = [(name, tokens[name], held[name]) for name in tokens if held[name]]
    return people, customers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50, help="simulated reps at once")
    parser.add_argument("--workers", type=int, default=2, help="winback serve --workers")
    parser.add_argument("--duration", type=float, default=60.0, help="timed seconds")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds over which users log in")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between actions")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--cases", type=int, default=5_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="winback-desk-load-"))
    engine, admin, name = _postgres(prefix="winback_load_")
    url = engine.url.render_as_string(hide_password=False)
    server = None
    try:
        people, customers = build(engine, work, args)
        engine.dispose()
        port = _free_port()
        env = {
            **os.environ,
            "WINBACK_HOME": str(work),
            "WINBACK_DESK_URL": url,
            "WINBACK_SECRET_KEY": secrets.token_urlsafe(40),
            "WINBACK_CYCLE_SCHEDULE": "off",
        }
        command = [sys.executable, "-m", "winback", "serve", "--port", str(port)]
        command += ["--workers", str(args.workers), "--no-cycle"]
        with open(work / "serve.log", "w") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                said = (work / "serve.log").read_text()
                raise SystemExit(f"winback serve did not start within {STARTUP} s:\n{said}")
            time.sleep(0.3)
        asyncio.run(run_load(base, people, customers, args, server.pid))
        said = (work / "serve.log").read_text(errors="replace").splitlines()
        refused = Counter(
            f"{m['method']} {re.sub(r'/[0-9][^/ ?]*', '/<id>', m['path'])} {m['status']}"
            for m in map(ACCESS.search, said)
            if m is not None and int(m["status"]) >= 400
        )
        for what, count in refused.most_common():
            print(f"server answered x{count}: {what}")
        # Everything else the server said (start-up, workers restarted, tracebacks' last
        # lines), numbers folded so that repeats count together.
        other = Counter(
            re.sub(r"\d+", "N", line)
            for line in said
            if not ACCESS.search(line) and not line.startswith((" ", "Traceback"))
        )
        for line, count in other.most_common(12):
            print(f"server log x{count}: {line[:300]}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
