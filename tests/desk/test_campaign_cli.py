"""winback campaign, as a user runs it: build, launch, list and report on a real desk."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.conftest import run_winback
from tests.desk.conftest import make_run
from winback.desk.models import Case, User


@pytest.fixture
def env(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> dict[str, str]:
    home = tmp_path / "ws"
    rows = [
        {"customer_id": f"c{i:02d}", "tier": "campaign", "segment": "retail"} for i in range(20)
    ]
    make_run(home / "runs", rows)
    return {
        "WINBACK_HOME": str(home),
        "WINBACK_DESK_URL": desk_engine.url.render_as_string(hide_password=False),
    }


def test_a_manager_builds_launches_and_reads_a_campaign_from_the_command_line(
    env: dict[str, str],
) -> None:
    built = run_winback(
        "campaign", "build", "spring", "--as", "manager", "--holdout", "0.2", env=env
    )
    assert built.returncode == 0, built.stderr
    assert "campaign 1 built: 20 member(s)" in built.stdout
    assert "16 to treat and 4 to hold out" in built.stdout
    refused = run_winback("campaign", "launch", "1", "--as", "rep", env=env)
    assert refused.returncode == 2
    assert "a rep may not" in refused.stderr
    launched = run_winback("campaign", "launch", "1", "--as", "manager", env=env)
    assert launched.returncode == 0, launched.stderr
    assert "16 treated" in launched.stdout
    assert "4 held out" in launched.stdout
    again = run_winback("campaign", "launch", "1", "--as", "manager", env=env)
    assert again.returncode == 2
    assert "launched already" in again.stderr
    listed = run_winback("campaign", "list", env=env)
    assert "spring  launched  16 treated, 4 held out" in listed.stdout
    report = run_winback("campaign", "report", "1", env=env)
    assert report.returncode == 0, report.stderr
    assert "all offers: 16 treated / 4 held out; win-back 0.0% vs 0.0%" in report.stdout


def test_an_unknown_user_is_named(env: dict[str, str]) -> None:
    done = run_winback("campaign", "build", "x", "--as", "nobody", env=env)
    assert done.returncode == 2
    assert "--as 'nobody': no desk user" in done.stderr


def test_the_leaderboard_from_the_command_line(
    env: dict[str, str], db: Session, people: dict[str, User]
) -> None:
    db.add(
        Case(
            customer_id="c01",
            priority=1,
            run_id="r",
            customer_status="lapsed",
            state="closed",
            outcome="won_back",
            contacted=True,
            owner_id=people["rep2"].id,
            opened_at=datetime(2024, 6, 1, 9),
            closed_at=datetime(2024, 6, 10, 9),
        )
    )
    db.commit()
    done = run_winback("leaderboard", "--since", "2024-06-01", "--until", "2024-06-30", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "cases closed 2024-06-01 to 2024-06-30; earnings in points"
    assert lines[1] == (
        "1. Rep Two (rep): 1 closed, 1 won back, 0.00 revenue won back; earned 10.00"
    )
    bad = run_winback("leaderboard", "--since", "June", env=env)
    assert bad.returncode == 2
    assert "--since 'June': give a date as YYYY-MM-DD" in bad.stderr
