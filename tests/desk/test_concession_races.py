"""Concessions under parallel requests, on SQLite (a file) and PostgreSQL: the limit check,
the pending check and the insert are one step, so no burst of requests gives more than a
user's limit, or leaves two requests of one kind waiting on a case; one request is decided
once.

Starting limits (models.STARTING_LIMITS): rep 10% / 50 / 1, manager 25% / 500 / 5.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.race import THREADS, in_parallel, kinds_of_errors, rep_case, wins
from winback.desk import concessions as cx
from winback.desk.models import AuditEntry, Concession, User


@pytest.fixture
def case_id(db: Session, people: dict[str, User], tmp_path: Path) -> int:
    """The rep's one open case."""
    return rep_case(db, people["rep"], tmp_path / "runs")


@pytest.mark.parametrize(
    ("kind", "amount", "limit"),
    [("discount_pct", 9.0, 10.0), ("credit", 45.0, 50.0), ("free_items", 1.0, 1.0)],
)
def test_parallel_requests_under_the_limit_give_no_more_than_the_limit(
    desk_engine: Engine,
    db: Session,
    people: dict[str, User],
    case_id: int,
    kind: str,
    amount: float,
    limit: float,
) -> None:
    def ask(session: Session, rep: User, _i: int) -> Concession:
        return cx.request_concession(session, rep, case_id, kind=kind, amount=amount)

    results = in_parallel(desk_engine, people["rep"].id, ask)

    # The first fits the limit and is granted; the second would pass it, so it waits for
    # a manager; every other finds that one waiting and is refused with 409.
    assert sorted(c.state for c in wins(results)) == ["granted", "pending"]
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 2)
    stored = list(db.scalars(select(Concession).where(Concession.case_id == case_id)))
    assert sorted(c.state for c in stored) == ["granted", "pending"]
    assert cx.already_granted(db, case_id, kind) == amount <= limit


def test_parallel_requests_of_different_sizes_keep_the_total_within_the_limit(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    """2.5 % at a time against a 10 % limit: four are granted (10 % exactly), the fifth
    waits for a manager, the rest are refused."""

    def ask(session: Session, rep: User, _i: int) -> Concession:
        return cx.request_concession(session, rep, case_id, kind="discount_pct", amount=2.5)

    results = in_parallel(desk_engine, people["rep"].id, ask)

    assert sorted(c.state for c in wins(results)) == ["granted"] * 4 + ["pending"]
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 5)
    assert cx.already_granted(db, case_id, "discount_pct") == 10.0


def test_a_request_decided_in_parallel_is_decided_once(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    """A manager and an executive click approve and counter at once: one decision stands,
    the others get 409, and the audit says what the customer got."""
    asked = cx.request_concession(db, people["rep"], case_id, kind="credit", amount=400.0)
    assert asked.state == "pending"
    deciders = [people["manager"].id, people["executive"].id]

    def decide(session: Session, who: User, i: int) -> Concession:
        if i % 4 < 2:
            return cx.decide(session, who, asked.id, decision="approve")
        return cx.decide(session, who, asked.id, decision="counter", amount=100.0)

    results = in_parallel(desk_engine, deciders, decide)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)

    stored = db.get(Concession, asked.id, populate_existing=True)
    assert stored is not None
    decisions = list(
        db.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "concession",
                AuditEntry.action.in_(("concession.approve", "concession.counter")),
            )
        )
    )
    assert len(decisions) == 1
    assert decisions[0].after is not None
    assert decisions[0].after["granted"] == stored.granted
    assert (stored.state, stored.granted) in {("granted", 400.0), ("countered", 100.0)}


def test_parallel_decisions_by_one_manager_are_decided_once(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    asked = cx.request_concession(db, people["rep"], case_id, kind="credit", amount=400.0)

    def decide(session: Session, manager: User, i: int) -> Concession:
        if i % 2:
            return cx.decide(session, manager, asked.id, decision="approve")
        return cx.decide(session, manager, asked.id, decision="counter", amount=100.0)

    results = in_parallel(desk_engine, people["manager"].id, decide)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)
    audit = list(
        db.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity == "concession", AuditEntry.entity_id == str(asked.id)
            )
        )
    )
    assert sorted(audit) in (
        ["concession.approve", "concession.request"],
        ["concession.counter", "concession.request"],
    )
