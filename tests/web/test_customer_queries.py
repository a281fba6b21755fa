"""The customer page's SQL statements, counted (SQLite and PostgreSQL): a fixed number
whatever the customer holds (no query per case, call, task or concession), within a
budget it cannot creep back over. At 1M customers each statement is a round trip to
the database (benchmarks/desk_latency.py): their number is the page's latency."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.desk.conftest import win_back
from tests.web.conftest import log_in
from winback.desk import calls, cases, concessions, tasks
from winback.desk.models import Case, User

# Statements of one customer page: the session's user, the customer's cases, red carpet,
# public posts, people's names, case activities, case history, concessions, reason
# codes, calls, tasks, do-not-contact flag, and the nav's counts (one statement).
BUDGET = {"rep": 13, "manager": 14}  # a manager's page also lists whom to reassign to
# A red carpet shows its owner's name and its experiences.
RED_CARPET = 2


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))  # the statement

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements(client: TestClient, engine: Engine, customer_id: str) -> list[str]:
    with counted(engine) as seen:
        answer = client.get(f"/customers/{customer_id}")
    assert answer.status_code == 200, answer.text
    return seen


def _work(db: Session, rep: User, case: Case, n: int) -> None:
    """``n`` more calls, tasks, notes and concessions on ``case``."""
    for i in range(n):
        calls.start_call(db, rep, case.id)
        tasks.add_task(
            db,
            rep,
            kind="commitment",
            title=f"call back {i}",
            customer_id=case.customer_id,
            owner_id=rep.id,
            due_on=tasks.today(),
            case_id=case.id,
        )
        cases.log_activity(db, rep, case.id, kind="note", channel=None, text=f"note {i}")
        db.commit()
        concessions.request_concession(db, rep, case.id, kind="credit", amount=10 + i, note="")


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_customer_page_reads_a_fixed_number_of_statements_within_its_budget(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    desk_engine: Engine,
    role: str,
) -> None:
    rep = people["rep"]
    by_customer = {c.customer_id: c for c in db.scalars(select(Case))}
    for c in by_customer.values():
        c.owner_id = rep.id
    db.commit()
    log_in(client, role)
    bare = statements(client, desk_engine, "c2")  # an open case and nothing else
    assert len(bare) <= BUDGET[role], "\n".join(bare)

    _work(db, rep, by_customer["c1"], 1)
    one = len(statements(client, desk_engine, "c1"))
    _work(db, rep, by_customer["c1"], 4)
    many = statements(client, desk_engine, "c1")
    assert len(many) == one, "a statement per call, task, note or concession"
    assert len(many) <= BUDGET[role], "\n".join(many)

    # Closed as won back: the red carpet's owner and experiences, and no open case (no
    # reassign list on a manager's page).
    win_back(db, rep, by_customer["c3"].id)
    won = statements(client, desk_engine, "c3")
    assert len(won) <= BUDGET["rep"] + RED_CARPET, "\n".join(won)
