"""``winback backup`` and ``winback restore``: a populated workspace, backed up and restored
into an empty folder, holds the same ledger, scan run, desk and policy; a backup taken while
imports run holds one whole ledger; a damaged backup or a non-empty workspace restores
nothing; a PostgreSQL desk goes through the pg_dump commands the backup names."""

from __future__ import annotations

import shlex
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import run_winback
from tests.desk.conftest import (  # noqa: F401 (fixtures)
    _cheap_password_hashing,
    postgres_engine,
    win_back,
)
from winback import cycle
from winback.backup import make_backup, restore_backup
from winback.desk import users
from winback.desk.backup import pg_dump_commands
from winback.desk.db import make_engine, open_session
from winback.desk.models import Case, User
from winback.errors import BackupError
from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run
from winback.settings import Settings
from winback.simulate.run import simulate

# A quick scan: the rule-based odds (no model fit for a business this small).
POLICY_TOML = """
[models]
min_customers = 100000

[red_carpet]
experiences = 7
"""


@pytest.fixture(scope="module")
def business(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("business")
    simulate("retail", 240, 24, 3, out, "csv")
    return out


@pytest.fixture(scope="module")
def populated(business: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace that has imported, scanned and synced a small business, with a manager
    who closed one case as won back (so the red carpet and the audit log hold rows)."""
    home = tmp_path_factory.mktemp("populated") / "ws"
    home.mkdir()
    (home / "policy.toml").write_text(POLICY_TOML, encoding="utf-8")
    settings = Settings(home=home)
    ledger = Ledger(settings.ledger_dir)
    for table in TABLES:
        if (business / f"{table}.csv").exists():
            import_file(ledger, table, business / f"{table}.csv", rejects_dir=settings.rejects_dir)
    # One file with a bad date, so the workspace holds a rejects file.
    header, first = (business / "orders.csv").read_text(encoding="utf-8").splitlines()[:2]
    column = header.split(",").index("order_date")
    bad = first.split(",")
    bad[column] = "2024-13-01"
    (business / "late-orders.csv").write_text(
        f"{header}\n{first}\n{','.join(bad)}\n", encoding="utf-8"
    )
    late = import_file(
        ledger, "orders", business / "late-orders.csv", rejects_dir=settings.rejects_dir
    )
    assert late.rejected == 1
    policy = cycle.policy_in_force(settings)
    result = cycle.scan(settings, policy)
    assert result.synced is not None
    assert result.synced.opened > 0
    with cycle.desk_session(settings) as db:
        boss = users.create_user(
            db, None, username="boss", name="Boss", role="manager", password="correct horse battery"
        )
        first = db.scalars(select(Case.id).order_by(Case.id)).first()
        assert first is not None
        win_back(db, boss, first, policy=policy, note="came back for the new range")
    exported = cycle.export_outcomes_of(settings)
    assert exported is not None
    assert exported.exported == 1
    assert settings.session_secret
    return home


def _env(home: Path) -> dict[str, str | None]:
    return {"WINBACK_HOME": str(home), "WINBACK_DESK_URL": None, "WINBACK_POLICY": None}


def _ledger_facts(home: Path) -> dict[str, Any]:
    """Rows per table as written, and the current rows per table read through DuckDB."""
    ledger = Ledger(home / "ledger")
    with ledger.connect() as con:
        current = {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TABLES
        }
    return {"written": ledger.row_counts(), "current": current}


def _desk_facts(home: Path) -> dict[str, Any]:
    with sqlite3.connect(home / "desk.sqlite3") as con:
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("users", "cases", "audit_log", "red_carpets", "case_activities")
        }
        closed = con.execute(
            "SELECT id, customer_id, outcome FROM cases WHERE state = 'closed' ORDER BY id"
        ).fetchall()
        people = con.execute("SELECT username, role, password_hash FROM users").fetchall()
    return {"counts": counts, "closed": closed, "users": people}


@pytest.mark.parametrize("form", ["folder", "backup.tar.gz"])
def test_a_restored_workspace_holds_the_same_ledger_scan_run_desk_and_policy(
    populated: Path, tmp_path: Path, form: str
) -> None:
    dest = tmp_path / ("backup" if form == "folder" else form)
    made = run_winback("backup", str(dest), env=_env(populated))
    assert made.returncode == 0, made.stderr
    assert f"backed up to {dest}" in made.stdout
    assert "desk (SQLite): 1 users" in made.stdout

    fresh = tmp_path / "restored"
    restored = run_winback("restore", str(dest), env=_env(fresh))
    assert restored.returncode == 0, restored.stderr
    assert "every checksum matched" in restored.stdout
    assert "desk (SQLite): 1 users" in restored.stdout

    before, after = _ledger_facts(populated), _ledger_facts(fresh)
    assert after == before
    assert before["current"]["orders"] > 1000  # the comparison compared something
    assert after["written"]["winback_outcomes"] == 1  # the closed case reached the ledger

    original, copy = latest_run(populated / "runs"), latest_run(fresh / "runs")
    assert original is not None
    assert copy is not None
    assert copy.info.run_id == original.info.run_id
    assert copy.customers().equals(original.customers())

    desk_before, desk_after = _desk_facts(populated), _desk_facts(fresh)
    assert desk_after == desk_before
    assert desk_before["counts"]["users"] == 1
    assert desk_before["counts"]["red_carpets"] == 1
    assert [outcome for _, _, outcome in desk_before["closed"]] == ["won_back"]
    assert desk_before["counts"]["audit_log"] >= 2  # the user made, the case closed

    assert (fresh / "policy.toml").read_text() == POLICY_TOML
    assert (fresh / "secret_key").read_text() == (populated / "secret_key").read_text()
    assert (fresh / "secret_key").stat().st_mode & 0o777 == 0o600
    rejects = sorted((populated / "rejects").iterdir())
    assert len(rejects) == 1
    assert [p.read_bytes() for p in sorted((fresh / "rejects").iterdir())] == [
        p.read_bytes() for p in rejects
    ]
    assert not (fresh / "winback-backup.json").exists()

    # The restored workspace works: the desk logs the manager in and sees the closed case.
    engine = make_engine(f"sqlite:///{fresh / 'desk.sqlite3'}")
    try:
        with open_session(engine) as db:
            boss = users.authenticate(db, "boss", "correct horse battery")
            assert boss.role == "manager"
            assert (
                db.scalar(select(func.count()).select_from(Case))
                == (desk_before["counts"]["cases"])
            )
    finally:
        engine.dispose()


def test_restore_refuses_a_workspace_that_is_not_empty(populated: Path, tmp_path: Path) -> None:
    dest = tmp_path / "b.tar.gz"
    make_backup(Settings(home=populated), dest)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    refused = run_winback("restore", str(dest), env=_env(busy))
    assert refused.returncode == 2
    assert " ".join(refused.stderr.split()) == (
        f"error: {busy} is not empty (it holds notes.txt); a backup restores into an empty "
        "workspace only: set WINBACK_HOME to a new folder, or move this one away first"
    )
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_damaged_backup_restores_nothing(populated: Path, tmp_path: Path) -> None:
    dest = tmp_path / "b"
    make_backup(Settings(home=populated), dest)
    segment = sorted((dest / "ledger" / "orders").iterdir())[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    fresh = tmp_path / "fresh"
    refused = run_winback("restore", str(dest), env=_env(fresh))
    assert refused.returncode == 2
    name = segment.relative_to(dest).as_posix()
    assert " ".join(refused.stderr.split()) == (
        f"error: {dest}: {name} does not match its checksum; the backup is damaged"
    )
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_backup_onto_an_existing_file_or_full_folder_is_refused(
    populated: Path, tmp_path: Path
) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"precious")
    with pytest.raises(BackupError, match=r"b\.tar\.gz: already exists; give a new file name"):
        make_backup(Settings(home=populated), tmp_path / "b.tar.gz")
    assert (tmp_path / "b.tar.gz").read_bytes() == b"precious"


def test_backups_taken_while_imports_run_each_hold_one_whole_ledger(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = tmp_path_factory.mktemp("bigger")
    simulate("retail", 1500, 24, 5, data, "csv")
    ledger = Ledger(tmp_path / "ws" / "ledger")
    settings = Settings(home=tmp_path / "ws")
    import_file(ledger, "customers", data / "customers.csv", rejects_dir=settings.rejects_dir)
    states = [ledger.row_counts()]
    # The other tables, one import after another, while backups are taken in a loop.
    plan = [
        t for t in ("orders", "order_lines", "incidents", "staff") if (data / f"{t}.csv").exists()
    ]
    failures: list[BaseException] = []

    def importing() -> None:
        try:
            for table in plan:
                import_file(ledger, table, data / f"{table}.csv", rejects_dir=settings.rejects_dir)
                states.append(ledger.row_counts())
        except BaseException as exc:  # pragma: no cover (reported below)
            failures.append(exc)

    worker = threading.Thread(target=importing)
    worker.start()
    taken = []
    during = 0
    while worker.is_alive() or not taken:
        dest = tmp_path / f"b{len(taken)}.tar.gz"
        running = worker.is_alive()
        contents = make_backup(settings, dest)
        during += running and worker.is_alive()
        taken.append((dest, contents.ledger_rows))
    worker.join()
    last = tmp_path / "last.tar.gz"
    taken.append((last, make_backup(settings, last).ledger_rows))
    assert failures == []
    assert during >= 1, "no backup overlapped an import; the test proved nothing"

    for i, (dest, rows) in enumerate(taken):
        assert rows in states, f"backup {i} holds {rows}, no state the ledger was ever in"
        restored = restore_backup(Settings(home=tmp_path / f"r{i}"), dest)
        again = Ledger(restored.home / "ledger")
        assert again.row_counts() == rows
        with again.connect() as con:  # every segment it names is there and reads
            for table in TABLES:
                con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert taken[-1][1] == states[-1]


def test_a_postgresql_desk_is_left_to_pg_dump_with_commands_that_work(
    populated: Path,
    postgres_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    with open_session(postgres_engine) as db:
        db.query(User).filter(User.username == "pg-boss").delete()
        db.commit()
        users.create_user(
            db,
            None,
            username="pg-boss",
            name="PG",
            role="manager",
            password="lantern staple orbit 42",
        )
    dest = tmp_path / "b"
    made = run_winback("backup", str(dest), env={**_env(populated), "WINBACK_DESK_URL": url})
    assert made.returncode == 0, made.stderr
    assert "desk: PostgreSQL, not in the backup" in made.stdout
    assert not (dest / "desk.sqlite3").exists()

    dump, _ = pg_dump_commands(url)
    assert dump in " ".join(made.stdout.split())  # the command printed is the one run here
    subprocess.run(shlex.split(dump), cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "desk.pgdump").stat().st_size > 0
    # Restore into a second, empty database and find the same user there.
    import psycopg

    target = postgres_engine.url.database + "_restored"
    admin_url = url.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{target}"')
    try:
        restored_url = url.rsplit("/", 1)[0] + "/" + target
        _, restore = pg_dump_commands(restored_url)
        subprocess.run(
            shlex.split(restore), cwd=tmp_path, check=True, capture_output=True, timeout=120
        )
        engine = make_engine(restored_url)
        try:
            with open_session(engine) as db:
                assert (
                    users.authenticate(db, "pg-boss", "lantern staple orbit 42").role == "manager"
                )
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
