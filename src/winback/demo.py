"""The demo: a small simulated business, imported, scanned, synced into the desk, with
users, its first cases worked, scanned again so the odds learn, a campaign launched and the
public complaints taken in.

``winback demo`` calls :func:`build_demo` and then serves the desk on 127.0.0.1. The demo
harms nothing: a workspace that already holds anything is refused (:func:`workspace_holds`)
unless ``force`` is given, and then only winback's own parts of it are replaced.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback import cycle
from winback.demo_cases import Worked, work_cases
from winback.desk import campaigns, outbox
from winback.desk.campaign_audience import AudienceFilter, default_offers
from winback.desk.campaign_mail import reach_of
from winback.desk.campaigns import LaunchReport
from winback.desk.complaints import IncomingPost
from winback.desk.db import desk_engine, open_session
from winback.desk.models import Case, User
from winback.desk.outcomes import export_outcomes
from winback.desk.sync import SyncResult
from winback.desk.users import create_user
from winback.errors import UsageError
from winback.ledger import reads
from winback.ledger.contract import TABLES
from winback.ledger.importer import ImportResult, import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.pipeline import run_scan
from winback.scan.runs import ScanRun
from winback.settings import Settings
from winback.simulate.posts import named_posts
from winback.simulate.run import simulate
from winback.simulate.settings import settings_for

# How the simulated staff's roles become desk roles.
DESK_ROLES = {"rep": "rep", "service": "rep", "manager": "manager", "executive": "executive"}
# The demo's policy: winback's defaults, but with an executive tier that fits a small
# retail business (the default 5,000 of value at stake is more than any of its customers
# is worth, so no case would ever reach an executive).
DEMO_POLICY = """\
# The demo's policy (written by winback demo): winback's defaults except the executive
# tier, sized to a small retail business. See docs/policy.md for every setting.
[tiers]
executive_top = 5
executive_min_value = 1000.0
"""
# Posts on a review site that name their authors (simulate/posts.py), taken in after the
# business's own imported posts.
NAMED_POSTS = 12
_AS_TEXT = pa_csv.ConvertOptions(column_types={"order_id": pa.string(), "customer_id": pa.string()})
# What of a workspace the demo makes and, with force, replaces.
_FOLDERS = ("ledger", "runs", "rejects", "demo-data", "desk")
_DESK_FILES = ("desk.sqlite3", "desk.sqlite3-wal", "desk.sqlite3-shm", "desk.sqlite3-journal")
# Left alone, never counted as contents: the session key (kept, so logins survive).
_IGNORED = {"secret_key"}


@dataclass
class DemoUser:
    username: str
    role: str
    password: str
    staff_id: str | None
    name: str = ""  # the person's name as the staff table has it (the desk shows it)


@dataclass
class ExecutiveCase:
    """An open executive-tier case, as the demo shows it."""

    case_id: int
    customer_id: str
    customer_name: str
    owner: str
    expected_value: float


@dataclass
class Demo:
    data: Path
    imports: list[ImportResult] = field(default_factory=list)
    run: ScanRun | None = None
    sync: SyncResult | None = None
    users: list[DemoUser] = field(default_factory=list)
    worked: Worked | None = None
    policy_path: Path | None = None
    # The re-scan after the worked cases: its run and sync, and the win-back odds by
    # segment before and after (the outcomes they learned from).
    rescan: cycle.ScanResult | None = None
    odds_before: dict[str, float] = field(default_factory=dict)
    odds_after: dict[str, float] = field(default_factory=dict)
    executives: list[ExecutiveCase] = field(default_factory=list)
    campaign: LaunchReport | None = None
    campaign_members: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    complaints: dict[str, int] = field(default_factory=dict)


def _username(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "user"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}"
    taken.add(candidate)
    return candidate


def workspace_holds(settings: Settings) -> list[str]:
    """What the workspace holds already, in words (empty: nothing the demo could harm).
    A PostgreSQL desk is asked for its users and cases."""
    held: list[str] = []
    home = settings.home
    ledger = Ledger(settings.ledger_dir)
    if ledger.manifest_path.exists():
        rows = sum(ledger.row_counts().values())
        held.append(f"a ledger of {rows:,} row(s) (ledger/)")
    known = {"ledger", *_DESK_FILES}
    if settings.runs_dir.exists():
        runs = [p for p in settings.runs_dir.iterdir() if p.is_dir() and p.name[0] != "."]
        if runs:
            held.append(f"{len(runs):,} scan run(s) (runs/)")
        known.add("runs")
    if settings.desk_url is None and (home / "desk.sqlite3").exists():
        held.append(f"a desk database (desk.sqlite3{_desk_counts(settings)})")
    elif settings.desk_url is not None:
        counts = _desk_counts(settings)
        if counts:
            held.append(f"a desk database at WINBACK_DESK_URL{counts}")
    if home.is_dir():
        others = sorted(
            p.name
            for p in home.iterdir()
            if p.name not in known and p.name not in _IGNORED and not p.name.startswith(".")
        )
        held += [f"{name}/" if (home / name).is_dir() else name for name in others]
    return held


def _desk_counts(settings: Settings) -> str:
    """ ", 10 user(s), 369 case(s)" for a desk holding anything, else ""."""
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            users = db.scalar(select(func.count()).select_from(User)) or 0
            cases = db.scalar(select(func.count()).select_from(Case)) or 0
    finally:
        engine.dispose()
    return f", {users:,} user(s), {cases:,} case(s)" if users or cases else ""


def check_workspace(settings: Settings, force: bool) -> list[str]:
    """Refuse (UsageError) a workspace that holds anything, unless ``force``; a desk
    database named by WINBACK_DESK_URL (PostgreSQL) that holds users or cases is refused
    even then (the demo never clears one).
    Returns what is about to be replaced."""
    held = workspace_holds(settings)
    if not held:
        return held
    where = settings.home.resolve()
    if settings.desk_url is not None and any("WINBACK_DESK_URL" in h for h in held):
        raise UsageError(
            f"the demo will not use the desk database at WINBACK_DESK_URL: it holds "
            f"{'; '.join(h for h in held if 'WINBACK_DESK_URL' in h)}, and the demo never "
            "clears a database named by WINBACK_DESK_URL (even with --force). Unset "
            "WINBACK_DESK_URL, or point it at an empty database"
        )
    if not force:
        raise UsageError(
            f"the workspace {where} is not empty: it holds {'; '.join(held)}. The demo "
            "would replace it. Run the demo in an empty folder (WINBACK_HOME=demo-workspace "
            "winback demo), serve what is there with winback serve, or give --force to "
            "replace the ledger, scan runs and desk with the demo's"
        )
    return held


def _fresh(settings: Settings) -> None:
    """Remove what winback keeps in the workspace (never a PostgreSQL desk), leaving other
    files alone."""
    for name in _FOLDERS:
        folder = settings.home / name
        if folder.is_dir():
            shutil.rmtree(folder)
    if settings.desk_url is None:
        for name in _DESK_FILES:
            (settings.home / name).unlink(missing_ok=True)
    if settings.policy is None:  # the demo writes its own in its place
        (settings.home / "policy.toml").unlink(missing_ok=True)


def odds_by_segment(run: ScanRun) -> dict[str, float]:
    """The run's win-back odds (a call's chance of winning a gone customer back) for each
    segment."""
    table = run.customers(["segment", "winback_odds"])
    table = table.filter(pc.is_valid(table["segment"]))
    grouped = table.group_by("segment").aggregate([("winback_odds", "mean")])
    return dict(
        sorted(
            zip(
                grouped["segment"].to_pylist(),
                grouped["winback_odds_mean"].to_pylist(),
                strict=True,
            )
        )
    )


def build_demo(
    settings: Settings,
    customers: int = 3000,
    seed: int = 0,
    say: Callable[[str], None] = lambda _text: None,
    *,
    force: bool = False,
) -> Demo:
    """Simulate, import, scan, create users and sync; work the first cases; scan again so
    the odds learn; launch a campaign; take the public posts in. Returns what it did.
    A workspace that holds anything is refused (UsageError) unless ``force``."""
    check_workspace(settings, force)
    _fresh(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    demo = Demo(data=settings.home / "demo-data")
    if settings.policy is None:
        demo.policy_path = settings.home / "policy.toml"
        demo.policy_path.write_text(DEMO_POLICY, encoding="utf-8")
    policy = cycle.policy_in_force(settings)
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
    demo.run = run_scan(
        ledger,
        settings.runs_dir,
        policy,
        step=lambda text: say(f"first scan: {text}"),
        memory=settings.scan_memory,
    )
    demo.odds_before = odds_by_segment(demo.run)
    say("creating desk users")
    demo.users = _create_users(settings, ledger)
    say("syncing cases")
    demo.sync = cycle.sync(settings, policy, demo.run)
    _work(settings, policy, demo, seed, say)
    demo.rescan = cycle.scan(settings, policy, step=lambda text: say(f"second scan: {text}"))
    demo.odds_after = odds_by_segment(demo.rescan.run)
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            demo.executives = executive_cases(db)
            say("building and launching a campaign")
            _campaign(settings, db, policy, demo)
            say("taking in the public posts")
            demo.complaints = _complaints(settings, db, policy, demo, seed)
    finally:
        engine.dispose()
    return demo


def _complaints(
    settings: Settings, db: Session, policy: Policy, demo: Demo, seed: int
) -> dict[str, int]:
    """The cycle's public-posts step (the simulated business's imported posts), then a
    review site's posts that name their authors the way people type names, as its webhook
    would hand them over: a matched complaint opens an urgent case."""
    counts, _problems = cycle.sources_step(settings, db, policy)
    people = pa_csv.read_csv(demo.data / "customers.csv")
    orders = pa_csv.read_csv(demo.data / "orders.csv", convert_options=_AS_TEXT)
    named = named_posts(
        people,
        orders,
        business_name=settings_for("retail").business_name,
        n=NAMED_POSTS,
        seed=seed,
    )
    incoming = [
        IncomingPost(
            origin="webhook",
            source_name="demo review site",
            external_id=row["post_id"],
            author=row["author"],
            location=row["location"],
            text=row["text"],
        )
        for row in named.to_pylist()
    ]
    taken = cycle.take_public_posts(settings, db, policy, incoming).counts()
    for name, value in taken.items():
        key = f"posts_{name}"
        counts[key] = counts.get(key, 0) + value
    return counts


def _work(
    settings: Settings, policy: Policy, demo: Demo, seed: int, say: Callable[[str], None]
) -> None:
    """The reps work the first cases; their outcomes go to the ledger."""
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            demo.worked = work_cases(
                db,
                demo.data,
                policy,
                seed=seed,
                progress=lambda done, total: say(f"working the first cases: {done}/{total}"),
            )
            export_outcomes(
                db, Ledger(settings.ledger_dir), settings.rejects_dir, memory=settings.import_memory
            )
    finally:
        engine.dispose()


def executive_cases(db: Session, limit: int = 5) -> list[ExecutiveCase]:
    """The open executive-tier cases, most valuable first."""
    rows = db.execute(
        select(Case, User.username)
        .outerjoin(User, User.id == Case.owner_id)
        .where(Case.state != "closed", Case.tier == "executive")
        .order_by(Case.priority, Case.id)
        .limit(limit)
    ).all()
    return [
        ExecutiveCase(
            case.id,
            case.customer_id,
            case.customer_name or "",
            username or "(unassigned)",
            float(case.expected_value or 0.0),
        )
        for case, username in rows
    ]


def _campaign(settings: Settings, db: Session, policy: Policy, demo: Demo) -> None:
    """A manager builds a campaign from the latest scan's campaign tier and launches it;
    its e-mails wait in the outbox unless SMTP is set up (winback outbox send)."""
    manager = db.scalar(select(User).where(User.role == "manager").order_by(User.id))
    if manager is None or demo.rescan is None:
        return
    made = campaigns.build_campaign(
        db,
        manager,
        demo.rescan.run,
        name="Demo win-back",
        audience=AudienceFilter(("campaign",)),
        offers=default_offers(),
        policy=policy,
    )
    shown = campaigns.preview(db, None, made, policy)
    demo.campaign_members = shown.audience
    if not shown.audience:
        return
    ledger = Ledger(settings.ledger_dir)
    demo.campaign = campaigns.launch(db, manager, made.id, reach_of(db, made, ledger, settings))
    demo.outbox = outbox.state_counts(db, made.id)


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
