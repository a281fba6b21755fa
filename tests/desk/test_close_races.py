"""A case closed from many places at once (a double-click, two people, a guided call and a
logged call), on SQLite (a file) and PostgreSQL: exactly one close wins, every other gets
409, and the outcome, the audit, the guided call and the red carpet all follow the winner."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY
from tests.desk.race import THREADS, in_parallel, kinds_of_errors, rep_case, wins
from winback.desk import calls, cases
from winback.desk.calls import Commitment, LoggedCall
from winback.desk.models import AuditEntry, Call, Case, CaseActivity, RedCarpet, Task, User, utcnow

# Alternating outcomes, so a loser that slipped through would show in the case's outcome.
OUTCOMES = ("won_back", "not_pursued")


@pytest.fixture
def case_id(db: Session, people: dict[str, User], tmp_path: Path) -> int:
    """The rep's one open case."""
    return rep_case(db, people["rep"], tmp_path / "runs")


def _closes(db: Session, case_id: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(
        AuditEntry.action == "case.close", AuditEntry.entity_id == str(case_id)
    )
    return list(db.scalars(query))


def _carpets(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(RedCarpet)) or 0


def _assert_one_close(db: Session, case_id: int, winner: str) -> None:
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    assert (case.state, case.outcome) == ("closed", winner)
    closes = _closes(db, case_id)
    assert [{k: c.after[k] for k in ("state", "outcome")} for c in closes] == [
        {"state": "closed", "outcome": winner}
    ]
    assert _carpets(db) == (1 if winner == "won_back" else 0)
    # One first follow-up for a customer coming back, whichever path closed the case.
    follow_ups = select(func.count()).where(Task.case_id == case_id, Task.kind == "follow_up")
    assert db.scalar(follow_ups) == (1 if winner in ("won_back", "will_return") else 0)


def test_parallel_closes_close_the_case_once(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    cases.log_activity(db, people["rep"], case_id, kind="contact", channel="call", text="hi")

    def close(session: Session, who: User, i: int) -> str:
        outcome = OUTCOMES[i % 2]
        cases.close_case(
            session, who, case_id, outcome, f"click {i}", policy=POLICY, follow_up_on=_soon()
        )
        return outcome

    results = in_parallel(desk_engine, [people["rep"].id, people["manager"].id], close)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)
    _assert_one_close(db, case_id, wins(results)[0])
    notes = db.scalars(
        select(CaseActivity.text).where(
            CaseActivity.case_id == case_id, CaseActivity.kind == "note"
        )
    ).all()
    assert len(notes) == 1


def test_the_guided_calls_outcome_saved_in_parallel_closes_the_case_once(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    call = calls.start_call(db, people["rep"], case_id)
    skipped = ("unreachable", "not_pursued")  # outcomes any step may jump to

    def save(session: Session, rep: User, i: int) -> str:
        outcome = skipped[i % 2]
        calls.save_step(session, rep, call.id, "outcome", {"outcome": outcome}, policy=POLICY)
        return outcome

    results = in_parallel(desk_engine, people["rep"].id, save)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)
    _assert_one_close(db, case_id, wins(results)[0])
    stored = db.get(Call, call.id, populate_existing=True)
    assert stored is not None
    assert stored.outcome == wins(results)[0]


def _soon() -> date:
    return (utcnow() + timedelta(days=7)).date()


def _logged(outcome: str, rep: User) -> LoggedCall:
    soon = _soon()
    return LoggedCall(
        occurred_at=utcnow() - timedelta(hours=1),
        apology="Sorry about the deliveries.",
        listening="Three late boxes.",
        reasons=["delivery"],
        verification="yes",
        asks="a fixed day",
        outcome=outcome,
        commitments=[Commitment("book Tuesday slots", rep.id, soon)],
        follow_up_on=soon,
    )


def test_calls_logged_in_parallel_close_the_case_once(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    def log(session: Session, rep: User, i: int) -> str:
        outcome = ("won_back", "will_return")[i % 2]
        calls.log_call(session, rep, case_id, _logged(outcome, rep), policy=POLICY)
        return outcome

    results = in_parallel(desk_engine, people["rep"].id, log)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)
    _assert_one_close(db, case_id, wins(results)[0])
    logged = db.scalars(select(Call).where(Call.case_id == case_id)).all()
    assert [c.outcome for c in logged] == wins(results)


def test_a_close_racing_a_logged_call_lets_one_of_them_win(
    desk_engine: Engine, db: Session, people: dict[str, User], case_id: int
) -> None:
    def either(session: Session, rep: User, i: int) -> str:
        if i % 2:
            calls.log_call(session, rep, case_id, _logged("won_back", rep), policy=POLICY)
            return "won_back"
        cases.close_case(session, rep, case_id, "declined", policy=POLICY)
        return "declined"

    results = in_parallel(desk_engine, people["rep"].id, either)

    assert len(wins(results)) == 1
    assert kinds_of_errors(results) == ["Conflict"] * (THREADS - 1)
    _assert_one_close(db, case_id, wins(results)[0])
    logged = db.scalars(select(Call).where(Call.case_id == case_id)).all()
    assert len(logged) == (1 if wins(results)[0] == "won_back" else 0)
