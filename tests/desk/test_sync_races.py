"""Sync closing a case as returned while a rep closes it, on PostgreSQL (where the two
really run at once; on SQLite sync holds the database's write lock from its start): the
rep's close, committed while sync waits, stands."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.desk.race import rep_case
from winback.desk import cases
from winback.desk.db import open_session
from winback.desk.models import AuditEntry, Case, User
from winback.desk.sync import SyncResult, sync_cases

pytestmark = pytest.mark.parametrize("desk_engine", ["postgresql"], indirect=True)


def _waiting_for_a_lock(engine: Engine, seconds: float = 20.0) -> bool:
    """True once some session of this database waits for a row lock."""
    deadline = time.monotonic() + seconds
    with engine.connect() as con:
        while time.monotonic() < deadline:
            waiting = con.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            con.rollback()
            if waiting:
                return True
            time.sleep(0.05)
    return False


def test_a_reps_close_while_sync_closes_the_case_as_returned_stands(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    case_id = rep_case(db, people["rep"], runs)
    # The next run shows c1 bought again: sync would close the case as returned.
    later = make_run(runs, [{"customer_id": "c1", "rank": 1, "last_order_date": date(2024, 8, 1)}])
    closing, go_on = threading.Event(), threading.Event()
    synced: list[SyncResult] = []
    crashes: list[BaseException] = []

    def rep_closes() -> None:
        try:
            with open_session(desk_engine) as session:
                rep = session.get(User, people["rep"].id)
                assert rep is not None
                cases.close_case(
                    session,
                    rep,
                    case_id,
                    "not_pursued",
                    "moved abroad",
                    policy=POLICY,
                    commit=False,
                )  # the case's row is locked, the close not yet committed
                closing.set()
                assert go_on.wait(timeout=30)
                session.commit()
        except BaseException as exc:
            crashes.append(exc)
            closing.set()

    def sync_runs() -> None:
        try:
            assert closing.wait(timeout=30)
            with open_session(desk_engine) as session:
                synced.append(sync_cases(session, None, later, policy=POLICY))
        except BaseException as exc:
            crashes.append(exc)

    threads = [threading.Thread(target=rep_closes), threading.Thread(target=sync_runs)]
    for thread in threads:
        thread.start()
    assert closing.wait(timeout=30)
    waited = _waiting_for_a_lock(desk_engine)  # sync is held by the rep's row lock
    go_on.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not crashes, crashes
    assert waited

    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    assert (case.state, case.outcome) == ("closed", "not_pursued")
    assert synced[0].returned == 0
    actions = db.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity_id == str(case_id))
        .order_by(AuditEntry.id)
    ).all()
    assert "case.close" in actions
    assert "case.returned" not in actions
