"""Desk fixtures: every desk test runs on SQLite and on PostgreSQL.

The schema is migrated once per session per database: SQLite copies a migrated template
file for each test; PostgreSQL uses one fresh database (random name, dropped at the end)
and truncates its tables before each test.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.conftest import service_missing
from winback.desk import users as desk_users
from winback.desk.db import make_engine, migrate, open_session
from winback.desk.models import Base, User
from winback.policy import Policy
from winback.policy import RedCarpet as RedCarpetRules
from winback.scan.runs import RUN_SCHEMA, RunInfo, ScanRun, write_run

PG_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
BACKENDS = ["sqlite", "postgresql"]
PASSWORD = "correct horse battery"
# The policy's default [red_carpet] rules, for the tests that sync or close cases.
RULES = RedCarpetRules()
# The whole policy at its defaults, for the desk's calls that take one.
POLICY = Policy()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at its lowest cost: the tests check the logic, not the hash strength."""
    saved = desk_users.hasher
    desk_users.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    desk_users.hasher = saved


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("desk") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_admin() -> Any:
    import psycopg

    for url in PG_ADMIN_URLS:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=3), url
        except psycopg.OperationalError:
            continue
    return None, None


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database for the session."""
    admin, admin_url = _pg_admin()
    if admin is None:
        service_missing("PostgreSQL on 127.0.0.1:5432")
    name = "winback_test_" + secrets.token_hex(4)
    admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(admin_url.rsplit("/", 1)[0] + "/" + name)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _starting_reasons() -> list[dict[str, Any]]:
    """The reason taxonomy as migration 0002 seeds it (read from the migration itself)."""
    import importlib.util

    from winback.desk.db import MIGRATIONS

    path = MIGRATIONS / "versions" / "0002_working_cases.py"
    spec = importlib.util.spec_from_file_location("desk_migration_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [
        {"code": code, "label": label, "position": i}
        for i, (code, label) in enumerate(module.STARTING_REASONS)
    ]


def _truncate(engine: Engine) -> None:
    """Empty every table, then seed what the migrations seed (the reason taxonomy)."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(
            text(
                "INSERT INTO reason_codes (code, label, active, position) "
                "VALUES (:code, :label, true, :position)"
            ),
            _starting_reasons(),
        )


@pytest.fixture(params=BACKENDS)
def desk_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated desk database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "desk.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        _truncate(engine)
        yield engine


@pytest.fixture
def db(desk_engine: Engine) -> Iterator[Session]:
    with open_session(desk_engine) as session:
        yield session


@pytest.fixture
def people(db: Session) -> dict[str, User]:
    """One user of every role (staff ids s-<role>), plus a second rep."""
    made = {}
    for role in ("admin", "manager", "executive", "rep"):
        made[role] = desk_users.create_user(
            db,
            None,
            username=role,
            name=role.title(),
            role=role,
            password=PASSWORD,
            staff_id=f"s-{role}",
        )
    made["rep2"] = desk_users.create_user(
        db, None, username="rep2", name="Rep Two", role="rep", password=PASSWORD, staff_id="s-rep2"
    )
    return made


def scan_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """A RUN_SCHEMA table from partial rows (missing fields null; sensible defaults)."""
    defaults: dict[str, Any] = {
        "status": "lapsed",
        "decision": "pursue",
        "tier": "rep",
        "reasons": ["no order for 200 days, twice the usual 90"],
        "decision_reasons": ["worth 1,200 a year"],
        "last_order_date": date(2024, 1, 10),
        "expected_value": 500.0,
        "predicted_value": 1200.0,
        "winback_odds": 0.3,
        "p_alive": 0.2,
    }
    full = [{**defaults, **r} for r in rows]
    return pa.table({f.name: pa.array([r.get(f.name) for r in full], f.type) for f in RUN_SCHEMA})


def make_run(runs_dir: Path, rows: list[dict[str, Any]], as_of: str = "2024-07-01") -> ScanRun:
    info = RunInfo(RunInfo.new_id(), as_of, f"{as_of}T06:00:00+00:00", 1)
    return write_run(runs_dir, info, scan_rows(rows))


def win_back(
    db: Session,
    actor: User,
    case_id: int,
    *,
    policy: Policy = POLICY,
    note: str = "",
    outcome: str = "won_back",
) -> Any:
    """Close a case the way the rules allow a win-back: a contact on record first, and the
    first follow-up (today) with the close."""
    from winback.desk import cases, tasks

    cases.log_activity(db, actor, case_id, kind="contact", channel="call", text="we spoke")
    return cases.close_case(
        db, actor, case_id, outcome, note, policy=policy, follow_up_on=tasks.today()
    )
