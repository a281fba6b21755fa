"""The demo: a small simulated business, imported, scanned, synced into the desk, with users.

``winback demo`` calls :func:`build_demo` and then serves the desk on 127.0.0.1.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from winback import cycle
from winback.demo_cases import Worked, work_cases
from winback.desk.db import desk_engine, open_session
from winback.desk.outcomes import export_outcomes
from winback.desk.sync import SyncResult
from winback.desk.users import create_user
from winback.ledger import reads
from winback.ledger.contract import TABLES
from winback.ledger.importer import ImportResult, import_file
from winback.ledger.store import Ledger
from winback.scan.pipeline import run_scan
from winback.scan.runs import ScanRun
from winback.settings import Settings
from winback.simulate.run import simulate

# How the simulated staff's roles become desk roles.
DESK_ROLES = {"rep": "rep", "service": "rep", "manager": "manager", "executive": "executive"}


@dataclass
class DemoUser:
    username: str
    role: str
    password: str
    staff_id: str | None
    name: str = ""  # the person's name as the staff table has it (the desk shows it)


@dataclass
class Demo:
    data: Path
    imports: list[ImportResult] = field(default_factory=list)
    run: ScanRun | None = None
    sync: SyncResult | None = None
    users: list[DemoUser] = field(default_factory=list)
    worked: Worked | None = None


def _username(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "user"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}"
    taken.add(candidate)
    return candidate


def _fresh(settings: Settings) -> None:
    """Remove what an earlier demo left in the workspace (never a PostgreSQL desk)."""
    for folder in (settings.ledger_dir, settings.runs_dir, settings.rejects_dir):
        if folder.exists():
            shutil.rmtree(folder)
    if settings.desk_url is None:
        (settings.home / "desk.sqlite3").unlink(missing_ok=True)
    timeline = settings.home / "desk" / "timeline"
    if timeline.exists():
        shutil.rmtree(timeline)


def build_demo(
    settings: Settings,
    customers: int = 3000,
    seed: int = 0,
    say: Callable[[str], None] = lambda _text: None,
) -> Demo:
    """Simulate, import, scan, create users and sync; returns what it did."""
    _fresh(settings)
    demo = Demo(data=settings.home / "demo-data")
    say(f"simulating a retail business of {customers:,} customers")
    simulate("retail", customers, 36, seed, demo.data, "csv")
    ledger = Ledger(settings.ledger_dir)
    for name in TABLES:
        for path in sorted(demo.data.glob(f"{name}.*")):
            say(f"importing {path.name}")
            demo.imports.append(
                import_file(
                    ledger,
                    name,
                    path,
                    rejects_dir=settings.rejects_dir,
                    memory=settings.import_memory,
                )
            )
    say("scanning")
    policy = cycle.policy_in_force(settings)
    demo.run = run_scan(ledger, settings.runs_dir, policy)
    say("creating desk users")
    demo.users = _create_users(settings, ledger)
    say("syncing cases")
    demo.sync = cycle.sync(settings, policy, demo.run)
    say("working the first cases (calls played from the simulator's truth)")
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            demo.worked = work_cases(db, demo.data, policy, seed=seed)
            export_outcomes(db, ledger, settings.rejects_dir, memory=settings.import_memory)
    finally:
        engine.dispose()
    return demo


def _create_users(settings: Settings, ledger: Ledger) -> list[DemoUser]:
    taken: set[str] = set()
    admin = DemoUser(_username("admin", taken), "admin", secrets.token_urlsafe(9), None, "Admin")
    wanted = [admin]
    for staff_id, name, role in reads.staff(ledger):
        if role in DESK_ROLES:
            wanted.append(
                DemoUser(
                    _username(name, taken),
                    DESK_ROLES[role],
                    secrets.token_urlsafe(9),
                    staff_id,
                    name,
                )
            )
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            for user in wanted:
                create_user(
                    db,
                    None,
                    username=user.username,
                    name=user.name or user.username,
                    role=user.role,
                    password=user.password,
                    staff_id=user.staff_id,
                )
    finally:
        engine.dispose()
    return wanted
