"""A reader of the audit log (:func:`winback.desk.audit.entries_since`) on PostgreSQL,
where ids are drawn at insert and committed later: a long transaction (winback sync
writing its refreshes, then reading the ledger for owners) may commit entries far more
than ``audit.SLACK`` ids below the newest one another process committed meanwhile. The
kept dashboard figures must still see them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tests.desk.conftest import _truncate
from tests.desk.test_dashboard_kept import same_headline
from tests.desk.test_report import build_cases, make_ledger
from winback.desk import audit
from winback.desk.dashboard import OpenCases
from winback.desk.db import open_session
from winback.desk.models import AuditEntry, Case, User
from winback.insights.kept import ReportStore
from winback.insights.reasons import WorkedCache, _worked_cases, build_report


@pytest.fixture
def desk_engine(postgres_engine: Engine) -> Engine:
    """Only PostgreSQL: SQLite commits writers one at a time, in id order."""
    _truncate(postgres_engine)
    return postgres_engine


def _harmless(n: int) -> list[AuditEntry]:
    return [
        AuditEntry(
            actor_name="x",
            action="task.add",
            entity="task",
            entity_id=str(i),
            at=datetime(2024, 6, 2),
        )
        for i in range(n)
    ]


def _late_close(
    desk_engine: Engine,
    db: Session,
    case_id: int,
    readers: list[Callable[[], object]],
    outcome: str | None = None,
) -> None:
    """Close ``case_id`` (with ``outcome``) in a transaction that draws its audit id first
    and commits only after others committed more than SLACK entries (and each reader read
    them)."""
    closed = {"state": "closed", "outcome": outcome}
    if outcome:
        closed["closed_at"] = datetime(2024, 6, 1)
    with open_session(desk_engine) as slow:
        slow.execute(update(Case).where(Case.id == case_id).values(**closed))
        audit.record(slow, None, "case.close", "case", case_id, None, closed)
        slow.flush()  # its id is drawn now, below everything committed next
        db.add_all(_harmless(audit.SLACK + 50))
        db.commit()
        for read in readers:
            read()
        slow.commit()


def test_a_case_closed_by_a_long_transaction_leaves_the_kept_open_cases(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    made = build_cases(db, people)
    db.commit()
    manager = people["manager"]
    kept = OpenCases()
    assert same_headline(db, manager, kept) == (3, 12_800.0)
    _late_close(desk_engine, db, made["cG"].id, [lambda: same_headline(db, manager, kept)])
    db.expire_all()
    assert same_headline(db, manager, kept) == (2, 7_800.0)


def test_a_case_closed_by_a_long_transaction_reaches_the_worked_cache(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    made = build_cases(db, people)
    db.commit()
    cache = WorkedCache()
    before = {i: w.__dict__.copy() for i, w in cache.rows(db, None).items()}
    _late_close(desk_engine, db, made["cF"].id, [lambda: cache.rows(db, None)])
    db.expire_all()
    fresh = {w.case_id: w.__dict__ for w in _worked_cases(db, None)}
    kept = {i: w.__dict__ for i, w in cache.rows(db, None).items()}
    assert fresh != before  # the close changed what a fresh read gives
    assert kept == fresh


def test_a_case_closed_by_a_long_transaction_reaches_the_kept_report(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    made = build_cases(db, people)
    db.commit()
    manager = people["manager"]
    ledger = make_ledger(tmp_path)
    store = ReportStore()
    first = store.get(db, manager, ledger, None).report
    read = [lambda: store.get(db, manager, ledger, None)]
    _late_close(desk_engine, db, made["cF"].id, read, outcome="won_back")
    db.expire_all()
    fresh = build_report(db, manager, ledger)
    assert fresh.total != first.total  # the close changed the report
    assert store.get(db, manager, ledger, None).report.total == fresh.total


def test_a_hole_left_by_a_rolled_back_transaction_stops_holding_the_reader_back(
    desk_engine: Engine, db: Session
) -> None:
    db.add_all(_harmless(10))
    db.commit()
    _, seen = audit.entries_since(db, None)
    with open_session(desk_engine) as gone:
        audit.record(gone, None, "case.close", "case", 1, None, {})
        gone.flush()  # an id drawn, never to commit
        db.add_all(_harmless(audit.SLACK + 50))
        db.commit()
        _, seen = audit.entries_since(db, seen)
        assert seen.floor < seen.newest - audit.SLACK  # held below the hole meanwhile
        gone.rollback()
    db.add_all(_harmless(3))
    db.commit()
    fresh, seen = audit.entries_since(db, seen)
    assert len(fresh) == 3
    assert seen.floor == seen.newest - audit.SLACK
