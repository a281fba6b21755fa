"""Notices and the nav's counts: the rep hears of a decision, the manager sees what waits
and gets a confirmation, everyone sees their open and overdue tasks (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.race import in_parallel
from tests.web.conftest import log_in
from winback.desk import concessions as cx
from winback.desk import nav, notices, tasks
from winback.desk.models import Case, User


def _count(page: str, which: str) -> str | None:
    found = re.search(rf'id="{which}"[^>]*>([^<]+)<', page)
    return found.group(1) if found else None


def _rep_case(db: Session, people: dict[str, User]) -> Case:
    case = db.scalar(select(Case).where(Case.customer_id == "c1"))
    assert case is not None
    case.owner_id = people["rep"].id
    db.commit()
    return case


def test_a_decision_reaches_the_rep_and_the_nav_counts_what_waits(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = _rep_case(db, people)
    asked = cx.request_concession(db, people["rep"], case.id, kind="credit", amount=300)
    csrf = log_in(client, "manager")
    assert _count(client.get("/queue").text, "approval-count") == "1"
    client.post(f"/concessions/{asked.id}/decide", data={"csrf_token": csrf, "decision": "approve"})
    assert _count(client.get("/queue").text, "approval-count") is None  # nothing waits now

    rep = TestClient(app, follow_redirects=False)
    rep_csrf = log_in(rep, "rep")
    queue = rep.get("/queue").text
    assert _count(queue, "notice-count") == "1"
    assert "Manager approved your request of 300.00 credit for Acme Ltd" in queue
    [notice] = notices.unread(db, people["rep"])
    # Read: gone from the queue and the count; a second click changes nothing.
    assert rep.post(f"/notices/{notice.id}/read", data={"csrf_token": rep_csrf}).status_code == 303
    assert rep.post(f"/notices/{notice.id}/read", data={"csrf_token": rep_csrf}).status_code == 303
    after = rep.get("/queue").text
    assert _count(after, "notice-count") is None
    assert 'id="notices"' not in after
    db.expire_all()
    assert notice.read_at is not None
    # Nobody marks another's notice read.
    assert notices.mark_read(db, people["rep2"], notice.id) == 0


def test_the_task_count_shows_open_and_overdue(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = _rep_case(db, people)
    for days in (-2, 0, 3):
        tasks.add_task(
            db,
            people["manager"],
            kind="commitment",
            title=f"call back ({days})",
            customer_id="c1",
            owner_id=people["rep"].id,
            due_on=tasks.today() + timedelta(days=days),
            case_id=case.id,
        )
    db.commit()
    log_in(client, "rep")
    assert _count(client.get("/queue").text, "task-count") == "3 (1 late)"


def test_parallel_reads_of_all_notices_mark_each_once(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    for i in range(3):
        notices.notify(db, people["rep"].id, "concession_decided", f"decided {i}")
    db.commit()
    marked = in_parallel(desk_engine, people["rep"].id, lambda s, u, i: notices.mark_read(s, u))
    assert sum(m for m in marked if isinstance(m, int)) == 3
    assert nav.nav_counts(db, people["rep"]).notices == 0
