"""A reader of the audit log (:func:`winback.desk.audit.entries_since`) on PostgreSQL,
where ids are drawn at insert and committed later: a long transaction (winback sync
writing its refreshes, then reading the ledger for owners) may commit entries far more
than ``audit.SLACK`` ids below the newest one another process committed meanwhile. The
kept dashboard figures must still see them."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text, update
from sqlalchemy.orm import Session

from tests.desk.conftest import _pg_admin, _truncate
from tests.desk.test_dashboard_kept import same_headline
from tests.desk.test_report import build_cases, make_ledger
from winback.desk import audit
from winback.desk.dashboard import OpenCases
from winback.desk.db import make_engine, open_session
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


@contextmanager
def _writer_elsewhere() -> Iterator[None]:
    """A transaction holding a transaction id in another database of the same server."""
    admin, url = _pg_admin()
    admin.close()
    with psycopg.connect(url) as other:
        other.execute("SELECT pg_current_xact_id()")
        yield
        other.rollback()


@pytest.mark.parametrize("elsewhere", [False, True], ids=["alone", "writer elsewhere"])
def test_a_hole_left_by_a_rolled_back_transaction_stops_holding_the_reader_back(
    desk_engine: Engine, db: Session, elsewhere: bool
) -> None:
    """Also while a transaction of another database on the server holds a transaction id:
    it writes no entry here, so reads stay complete and holes settle."""
    with _writer_elsewhere() if elsewhere else nullcontext():
        db.add_all(_harmless(10))
        db.commit()
        _, seen = audit.entries_since(db, None)
        assert seen.complete
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
        fresh, seen = audit.entries_since(db, seen)
        assert (fresh, seen.complete) == ([], True)


@pytest.fixture(params=["same role", "another role"])
def reader(request: pytest.FixtureRequest, desk_engine: Engine) -> Iterator[Session]:
    """A session that reads the log: as the writers' role, or as a role that sees only the
    pids and transaction ids of their sessions (no pg_read_all_stats)."""
    if request.param == "same role":
        with open_session(desk_engine) as session:
            yield session
        return
    role = "winback_reader_" + secrets.token_hex(4)
    with desk_engine.begin() as admin:
        admin.execute(text(f"CREATE ROLE {role} LOGIN"))
        admin.execute(text(f"GRANT SELECT ON audit_log TO {role}"))
    engine = make_engine(desk_engine.url.set(username=role).render_as_string(hide_password=False))
    try:
        with open_session(engine) as session:
            yield session
    finally:
        engine.dispose()
        with desk_engine.begin() as admin:
            admin.execute(text(f"REVOKE ALL ON audit_log FROM {role}"))
            admin.execute(text(f"DROP ROLE {role}"))


def test_an_entry_held_by_the_newest_writer_is_reported_once_it_commits(
    desk_engine: Engine, db: Session, reader: Session
) -> None:
    """A rep's close draws its id while a sync that took its transaction id earlier is at
    work: the close holds the newest transaction id, above every one that ended, which
    PostgreSQL's snapshot does not list as in progress."""
    db.add_all(_harmless(10))
    db.commit()
    _, seen = audit.entries_since(reader, None)
    with open_session(desk_engine) as sync, open_session(desk_engine) as rep:
        sync.execute(text("SELECT pg_current_xact_id()"))  # the sync has written already
        audit.record(rep, None, "case.close", "case", 7, None, {})
        rep.flush()  # an id below all the sync's entries, and the newest transaction id
        sync.add_all(_harmless(audit.SLACK + 50))
        sync.commit()
        _, seen = audit.entries_since(reader, seen)
        assert seen.floor < seen.newest - audit.SLACK  # held below the close meanwhile
        assert not audit.entries_since(reader, None)[1].complete  # a first read: not settled
        rep.commit()
    fresh, _ = audit.entries_since(reader, seen)
    assert fresh == [("case", "7")]


# An INSERT that draws its id, then waits for the test's lock before it writes the row.
_DRAW_THEN_WAIT = text(
    "INSERT INTO audit_log (id, at, actor_name, action, entity, entity_id) "
    "SELECT d.id, now(), 'rep', 'case.close', 'case', '7' "
    "FROM (SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS id OFFSET 0) AS d "
    "CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(d.id * 0 + 4242)) AS waited"
)


def _waiting_for_the_lock(connection: Connection) -> bool:
    connection.execute(text("SELECT pg_stat_clear_snapshot()"))
    return bool(
        connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        )
    )


def test_an_id_drawn_before_its_writer_has_a_transaction_id_holds_the_reader_back(
    desk_engine: Engine, db: Session
) -> None:
    """An INSERT draws its id (nextval) before it takes a transaction id: a writer between
    the two has written nothing yet, but its id may commit below entries read meanwhile."""
    db.add_all(_harmless(10))
    db.commit()
    _, seen = audit.entries_since(db, None)
    with desk_engine.connect() as gate:
        gate.execute(text("SELECT pg_advisory_lock(4242)"))
        writer = threading.Thread(target=lambda: _write_at(desk_engine))
        writer.start()
        try:
            for _ in range(1000):
                if _waiting_for_the_lock(gate):
                    break
                time.sleep(0.01)
            db.add_all(_harmless(audit.SLACK + 50))
            db.commit()
            for _ in range(2):
                _, seen = audit.entries_since(db, seen)
                assert seen.floor < seen.newest - audit.SLACK  # held below the drawn id
        finally:
            gate.execute(text("SELECT pg_advisory_unlock(4242)"))
            writer.join()
    fresh, _ = audit.entries_since(db, seen)
    assert fresh == [("case", "7")]


def _write_at(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(_DRAW_THEN_WAIT)


def test_a_reader_that_rolls_back_its_own_change_reads_the_cases_again(
    db: Session, people: dict[str, User]
) -> None:
    """The kept open cases read within a transaction that closed a case and then rolled
    back: its entry never commits, so the read that saw it cannot be the last word."""
    case_id = build_cases(db, people)["cG"].id
    db.commit()
    kept = OpenCases()
    headlines = [same_headline(db, people["manager"], kept)]
    db.execute(update(Case).where(Case.id == case_id).values(state="closed"))
    audit.record(db, None, "case.close", "case", case_id, None, {"state": "closed"})
    db.flush()
    headlines.append(same_headline(db, people["manager"], kept))  # its own, uncommitted
    db.rollback()
    headlines.append(same_headline(db, people["manager"], kept))
    assert headlines == [(3, 12_800.0), (2, 7_800.0), (3, 12_800.0)]
