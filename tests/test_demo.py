"""The demo as a user runs it (a real process, real files): it shows the whole product,
re-scans after its worked cases so the odds learn, has an executive-tier case, launches a
campaign into the outbox, takes public complaints in, and harms nothing: a workspace that
holds anything is refused unless --force (SQLite and PostgreSQL desks)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import run_winback
from tests.desk.conftest import (  # noqa: F401 (fixtures)
    PASSWORD,
    _cheap_password_hashing,
    desk_engine,
    postgres_engine,
    sqlite_template,
)
from winback.demo import _fresh as fresh_workspace
from winback.demo import check_workspace, odds_by_segment, workspace_holds
from winback.desk import users
from winback.desk.db import open_session
from winback.desk.models import Campaign, Case, OutboxMessage, User
from winback.errors import UsageError
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run, read_run
from winback.settings import load_settings

# What the demo must not inherit from the machine it runs on.
CLEAN = {
    "WINBACK_DESK_URL": None,
    "WINBACK_POLICY": None,
    "WINBACK_SMTP_HOST": None,
    "WINBACK_PUBLIC_URL": None,
}


@dataclass
class Built:
    home: Path
    done: subprocess.CompletedProcess[str]


def demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_winback(
        "demo", "--no-serve", "--customers", "400", *args,
        env={**CLEAN, "WINBACK_HOME": str(home)}, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One demo, built once for the tests of this module (it takes a minute or two)."""
    home = tmp_path_factory.mktemp("demo") / "ws"
    done = demo(home)
    assert done.returncode == 0, done.stderr
    return Built(home, done)


def desk(built: Built) -> Session:
    engine = create_engine(f"sqlite:///{built.home / 'desk.sqlite3'}")
    return Session(engine)


def number(pattern: str, text: str) -> int:
    found = re.search(pattern, " ".join(text.split()))  # a long line may wrap
    assert found, (pattern, text)
    return int(found.group(1).replace(",", ""))


def test_demo_builds_a_business_scans_it_and_prints_desk_users(built: Built) -> None:
    out = built.done.stdout
    assert "customers ← customers.csv: read 400 · stored 400" in out
    assert "on the win-back list" in out
    assert "case(s) opened" in out
    assert "desk users (passwords shown once)" in out
    assert "│ admin " in out
    assert (built.home / "runs" / "LATEST").exists()
    assert (built.home / "desk.sqlite3").exists()
    # Some cases are worked (calls played from the simulator's truth) and their outcomes
    # reach the ledger table the next scan learns from.
    worked = number(r"desk: (\d+) case\(s\) worked by their reps", out)
    assert worked > 0
    assert Ledger(built.home / "ledger").row_counts()["winback_outcomes"] == worked


def test_the_demo_scans_again_after_its_worked_cases_and_the_odds_learn(built: Built) -> None:
    out = built.done.stdout
    runs = sorted(p for p in (built.home / "runs").iterdir() if p.is_dir())
    assert len(runs) == 2
    second = latest_run(built.home / "runs")
    assert second is not None
    assert second.path == runs[1]
    assert f"second scan {second.info.run_id}, after the worked cases" in out
    line = next(x for x in out.splitlines() if x.startswith("win-back odds by segment"))
    pairs = re.findall(r"(\w+) ([\d.]+)% → ([\d.]+)%", line)
    assert pairs, line
    # What is printed is what the runs hold: the first scan's odds (the prior, no outcome
    # yet) and the second's, moved by the worked cases' outcomes.
    first = odds_by_segment(read_run(runs[0]))
    after = odds_by_segment(second)
    for segment, before_pct, after_pct in pairs:
        assert float(before_pct) == pytest.approx(first[segment] * 100, abs=0.05)
        assert float(after_pct) == pytest.approx(after[segment] * 100, abs=0.05)
    assert any(before != after for _, before, after in pairs), line
    # The re-scan's sync held the worked customers back by the contact rules.
    assert "held back by the contact rules" in out


def test_the_demo_has_an_executive_tier_case_and_shows_it(built: Built) -> None:
    out = built.done.stdout
    shown = number(r"executive tier: (\d+) open case\(s\)", out)
    assert shown > 0
    assert "[tiers]" in (built.home / "policy.toml").read_text()
    run = latest_run(built.home / "runs")
    assert run is not None
    tiers = run.customers(["tier"])["tier"]
    assert pc.sum(pc.equal(tiers, "executive")).as_py() >= shown
    with desk(built) as db:
        rows = db.execute(
            select(Case.id, Case.customer_id, User.username, User.role)
            .join(User, User.id == Case.owner_id)
            .where(Case.tier == "executive", Case.state != "closed")
        ).all()
    assert len(rows) >= shown
    for case_id, customer_id, username, role in rows[:shown]:
        assert role == "executive"
        assert f"case {case_id}: {customer_id} " in out
        assert f"for {username}" in out


def test_the_demo_launches_a_campaign_whose_email_waits_in_the_outbox(built: Built) -> None:
    out = " ".join(built.done.stdout.split())
    queued = number(r"(\d+) e-mail\(s\) wait in the outbox", out)
    assert queued > 0
    with desk(built) as db:
        campaign = db.scalars(select(Campaign)).one()
        states = dict(
            db.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ).all()
        )
    assert campaign.state != "draft"
    assert f"campaign {campaign.id} 'Demo win-back' launched" in out
    assert states == {"queued": queued}  # no SMTP server set up: nothing was sent


def test_the_demo_takes_public_complaints_in_and_opens_urgent_cases(built: Built) -> None:
    out = built.done.stdout
    opened = number(r"(\d+) urgent case\(s\) opened", out)
    made = number(r"(\d+) open case\(s\) made urgent", out)
    assert opened > 0
    with desk(built) as db:
        urgent = db.scalar(select(func.count()).select_from(Case).where(Case.urgent.is_(True)))
    assert urgent == opened + made


def test_running_the_demo_again_is_refused_and_changes_nothing(built: Built) -> None:
    before = (built.home / "runs" / "LATEST").read_text()
    with desk(built) as db:
        cases = db.scalar(select(func.count()).select_from(Case))
    again = demo(built.home)
    assert again.returncode == 2
    assert "Traceback" not in again.stderr
    message = " ".join(again.stderr.split())
    assert f"the workspace {built.home.resolve()} is not empty" in message
    assert "a ledger of" in message
    assert "2 scan run(s)" in message
    assert f"a desk database (desk.sqlite3, 10 user(s), {cases} case(s))" in message
    assert "--force" in message
    assert (built.home / "runs" / "LATEST").read_text() == before
    with desk(built) as db:
        assert db.scalar(select(func.count()).select_from(Case)) == cases


def test_force_replaces_winbacks_parts_of_a_workspace_and_nothing_else(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    settings = load_settings(home=home, desk_url=None, policy=None)
    assert workspace_holds(settings) == []
    check_workspace(settings, force=False)  # an empty (or absent) workspace is fine
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\n1,a,2024-01-01,5\n")
    import_file(Ledger(settings.ledger_dir), "orders", orders, rejects_dir=settings.rejects_dir)
    (home / "notes.txt").write_text("mine")
    (home / "policy.toml").write_text("[tiers]\nexecutive_top = 1\n")
    with pytest.raises(UsageError) as refused:
        check_workspace(settings, force=False)
    message = str(refused.value)
    assert str(home.resolve()) in message
    assert "a ledger of 1 row(s) (ledger/)" in message
    assert "notes.txt" in message
    assert "policy.toml" in message
    assert check_workspace(settings, force=True)
    fresh_workspace(settings)
    assert not settings.ledger_dir.exists()
    assert not (home / "policy.toml").exists()
    assert (home / "notes.txt").read_text() == "mine"


def test_a_desk_database_that_holds_users_is_never_cleared(
    desk_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = desk_engine.url.render_as_string(hide_password=False)
    settings = load_settings(home=tmp_path / "ws", desk_url=url, policy=None)
    assert check_workspace(settings, force=False) == []  # an empty desk database: fine
    with open_session(desk_engine) as db:
        users.create_user(db, None, username="ann", name="Ann", role="rep", password=PASSWORD)
    for force in (False, True):
        with pytest.raises(
            UsageError, match="never clears a database named by WINBACK_DESK_URL"
        ) as refused:
            check_workspace(settings, force=force)
        assert "1 user(s), 0 case(s)" in str(refused.value)
