"""winback user add and winback sync, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import run_winback
from tests.desk.conftest import make_run
from winback.cli import app
from winback.desk.models import Case, User
from winback.desk.users import authenticate, by_username
from winback.errors import Conflict, WinbackError


@pytest.fixture
def env(desk_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "WINBACK_HOME": str(tmp_path / "ws"),
        "WINBACK_DESK_URL": desk_engine.url.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_user_add_prints_a_generated_password_that_logs_in(
    env: dict[str, str], db: Session
) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["user", "add", "alice", "--role", "manager", "--name", "Alice Moss"])
    assert done.exit_code == 0, done.output
    assert "added manager alice" in done.output
    password = done.output.split("password: ")[1].strip()
    assert authenticate(db, "alice", password).name == "Alice Moss"
    again = runner.invoke(app, ["user", "add", "alice", "--role", "rep"])
    assert isinstance(again.exception, Conflict)


def test_user_role_and_reset_password_from_the_command_line(
    env: dict[str, str], db: Session
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["user", "add", "carol", "--role", "rep"]).exit_code == 0
    promoted = runner.invoke(app, ["user", "role", "carol", "--role", "manager"])
    assert promoted.exit_code == 0, promoted.output
    assert "carol is now manager" in promoted.output
    reset = runner.invoke(app, ["user", "reset-password", "carol"])
    assert reset.exit_code == 0, reset.output
    password = reset.output.split("password: ")[1].strip()
    carol = authenticate(db, "carol", password)
    assert (carol.role, carol.limit_credit) == ("manager", 500.0)
    typed = runner.invoke(
        app, ["user", "reset-password", "carol", "--password-stdin"], input="quiet amber lanterns\n"
    )
    assert typed.exit_code == 0, typed.output
    assert "password:" not in typed.output
    db.expire_all()
    assert authenticate(db, "carol", "quiet amber lanterns").username == "carol"
    nobody = runner.invoke(app, ["user", "role", "zed", "--role", "rep"])
    assert "no user 'zed'" in str(nobody.exception)


def test_user_email_from_the_command_line(env: dict[str, str], db: Session) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["user", "add", "dora", "--role", "rep", "--email", "d@x.example"])
    assert added.exit_code == 0, added.output
    assert by_username(db, "dora").email == "d@x.example"
    changed = runner.invoke(app, ["user", "email", "dora", "dora@staff.example"])
    assert changed.exit_code == 0, changed.output
    assert "dora: e-mail dora@staff.example" in changed.output
    bad = runner.invoke(app, ["user", "email", "dora", "not an address"])
    assert "give one address such as name@example.com" in str(bad.exception)
    removed = runner.invoke(app, ["user", "email", "dora", ""])
    assert "dora: no e-mail address (no digest)" in removed.output
    db.expire_all()
    assert by_username(db, "dora").email is None


def test_sync_without_a_scan_run_says_so(env: dict[str, str]) -> None:
    done = CliRunner().invoke(app, ["sync"])
    assert isinstance(done.exception, WinbackError)
    assert "no scan run" in str(done.exception)


def test_sync_in_a_real_process_turns_the_latest_run_into_cases(
    env: dict[str, str], db: Session
) -> None:
    added = CliRunner().invoke(
        app, ["user", "add", "bob", "--role", "rep", "--password-stdin"], input="a long password\n"
    )
    assert added.exit_code == 0, added.output
    assert "password:" not in added.output
    make_run(
        Path(env["WINBACK_HOME"]) / "runs",
        [{"customer_id": "a", "rank": 1}, {"customer_id": "b", "rank": 2}],
    )

    done = run_winback("sync", env=env)

    assert done.returncode == 0, done.stderr
    assert "2 case(s) opened" in done.stdout
    bob = db.scalars(select(User).where(User.username == "bob")).one()
    assert [c.owner_id for c in db.scalars(select(Case))] == [bob.id, bob.id]


def test_sync_prints_what_the_contact_rules_held_back_and_the_owners_it_repaired(
    env: dict[str, str], db: Session
) -> None:
    """Issue 13 (7): a scan synced before anyone could take cases, then a user added."""
    from winback.desk import do_not_contact

    runs = Path(env["WINBACK_HOME"]) / "runs"
    make_run(runs, [{"customer_id": "a", "rank": 1}])
    first = CliRunner().invoke(app, ["sync"])
    assert "1 case(s) opened (1 left for a manager to assign)" in first.output
    added = CliRunner().invoke(
        app, ["user", "add", "bob", "--role", "rep", "--password-stdin"], input="a long password\n"
    )
    assert added.exit_code == 0, added.output
    do_not_contact.block(db, None, "b", source="import")
    make_run(runs, [{"customer_id": "a", "rank": 1}, {"customer_id": "b", "rank": 2}])

    done = CliRunner().invoke(app, ["sync"])

    assert done.exit_code == 0, done.output
    assert "held back by the contact rules (no new case): 1 do not contact" in done.output
    assert "owners repaired: 1 unassigned case(s) given an owner" in done.output
    bob = db.scalars(select(User).where(User.username == "bob")).one()
    db.expire_all()
    assert [(c.customer_id, c.owner_id) for c in db.scalars(select(Case))] == [("a", bob.id)]


def test_sync_also_writes_the_customer_ordered_timeline_copy(env: dict[str, str]) -> None:
    from winback.ledger import timeline as timeline_index
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    home = Path(env["WINBACK_HOME"])
    orders = home.parent / "orders.csv"
    orders.write_text(
        "order_id,customer_id,order_date,amount\no1,b,2023-01-01,5\no2,a,2023-02-01,7\n"
    )
    ledger = Ledger(home / "ledger")
    import_file(ledger, "orders", orders, rejects_dir=home / "rejects")
    make_run(home / "runs", [{"customer_id": "a", "rank": 1}])

    done = CliRunner().invoke(app, ["sync"])

    assert done.exit_code == 0, done.output
    folder = timeline_index.current(timeline_index.root_of(home), ledger)
    assert folder is not None
    con = timeline_index.connect(folder)
    assert con.sql("SELECT customer_id FROM orders").fetchall() == [("a",), ("b",)]
    con.close()
