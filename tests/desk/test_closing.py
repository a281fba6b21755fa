"""Closing with discipline (issue 13): no outcome assumed, "won back" only after a
conversation on record, the follow-up rule on every close path, offers from the concession
panel, no follow-up done while a promise is open, and every answer of a call kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY
from tests.desk.race import rep_case
from winback.desk import calls, cases, concessions, tasks
from winback.desk.calls import Commitment, LoggedCall
from winback.desk.models import AuditEntry, Call, CallAnswer, Case, Concession, Task, User
from winback.errors import Conflict, InvalidInput


@pytest.fixture
def case(db: Session, people: dict[str, User], tmp_path: Path) -> Case:
    found = db.get(Case, rep_case(db, people["rep"], tmp_path / "runs"))
    assert found is not None
    return found


def _soon(days: int = 7) -> Any:
    return tasks.today() + timedelta(days=days)


def _talk(db: Session, rep: User, case: Case) -> None:
    cases.log_activity(db, rep, case.id, kind="contact", channel="call", text="we spoke")


def _call_at(db: Session, rep: User, case: Case, last: str) -> Call:
    """A guided call answered up to (not including) ``last``."""
    call = calls.start_call(db, rep, case.id)
    answers: list[tuple[str, dict[str, Any]]] = [
        ("apology", {"apology": "Sorry."}),
        ("listening", {"listening": "Late boxes."}),
        ("diagnosis", {"reasons": ["delivery"]}),
        ("verification", {"verification": "yes"}),
        ("asks", {"asks": "a fixed day"}),
        ("plan", {}),
        ("offer", {"offer_kind": "guarantee"}),
    ]
    for step, given in answers:
        if step == last:
            break
        if step == "plan":
            calls.add_commitment(db, rep, call.id, Commitment("book slots", rep.id, _soon(2)))
        calls.save_step(db, rep, call.id, step, given, policy=POLICY)
    return call


def _follow_ups(db: Session, case: Case) -> int:
    query = select(func.count()).where(Task.case_id == case.id, Task.kind == "follow_up")
    return db.scalar(query) or 0


def test_no_outcome_is_assumed(db: Session, people: dict[str, User], case: Case) -> None:
    for empty in ("", "  "):
        with pytest.raises(InvalidInput, match="outcome: choose what came of the case"):
            cases.close_case(db, people["rep"], case.id, empty, policy=POLICY)
    db.refresh(case)
    assert case.state == "open"


@pytest.mark.parametrize("outcome", ["won_back", "will_return"])
def test_coming_back_needs_a_contact_on_record_and_a_follow_up(
    db: Session, people: dict[str, User], case: Case, outcome: str
) -> None:
    rep = people["rep"]
    with pytest.raises(InvalidInput, match="nobody has recorded talking to the customer"):
        cases.close_case(db, rep, case.id, outcome, policy=POLICY, follow_up_on=_soon())
    # Starting a call is no conversation yet.
    calls.start_call(db, rep, case.id)
    with pytest.raises(InvalidInput, match="nobody has recorded talking"):
        cases.close_case(db, rep, case.id, outcome, policy=POLICY, follow_up_on=_soon())
    _talk(db, rep, case)
    with pytest.raises(InvalidInput, match="follow_up_on: the customer is coming back"):
        cases.close_case(db, rep, case.id, outcome, policy=POLICY)
    with pytest.raises(InvalidInput, match="cannot be in the past"):
        cases.close_case(db, rep, case.id, outcome, policy=POLICY, follow_up_on=_soon(-1))
    db.refresh(case)
    assert (case.state, _follow_ups(db, case)) == ("working", 0)

    cases.close_case(db, rep, case.id, outcome, policy=POLICY, follow_up_on=_soon(5))
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", outcome)
    follow = db.scalars(select(Task).where(Task.case_id == case.id)).one()
    assert (follow.kind, follow.owner_id, follow.due_on) == ("follow_up", rep.id, _soon(5))
    close = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.close")).one()
    assert close.after == {"state": "closed", "outcome": outcome, "follow_up_task": follow.id}


def test_other_outcomes_need_neither(db: Session, people: dict[str, User], case: Case) -> None:
    cases.close_case(db, people["rep"], case.id, "declined", policy=POLICY)
    db.refresh(case)
    assert (case.state, case.outcome, _follow_ups(db, case)) == ("closed", "declined", 0)


def test_a_call_that_reached_its_outcome_is_a_conversation(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = _call_at(db, rep, case, "outcome")
    assert cases.has_conversation(db, case.id)
    # The outcome step checks the rules at once; the case closes with the follow-up.
    calls.save_step(db, rep, call.id, "outcome", {"outcome": "will_return"}, policy=POLICY)
    db.refresh(case)
    assert case.state == "working"
    with pytest.raises(InvalidInput, match="schedule the first follow-up"):
        calls.save_step(db, rep, call.id, "follow_up", {}, policy=POLICY)
    calls.save_step(db, rep, call.id, "follow_up", {"follow_up_on": _soon(3)}, policy=POLICY)
    db.refresh(case)
    assert (case.state, case.outcome, _follow_ups(db, case)) == ("closed", "will_return", 1)


def test_the_offer_comes_from_the_concession_panel(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep, manager = people["rep"], people["manager"]
    call = _call_at(db, rep, case, "offer")
    with pytest.raises(InvalidInput, match="offer_amount: how much percent discount"):
        calls.save_step(db, rep, call.id, "offer", {"offer_kind": "price_break"}, policy=POLICY)
    for given, says in (
        ({"offer_kind": "guarantee", "offer_amount": "5"}, "gives no concession"),
        ({"offer_kind": "coupon", "offer_amount": "lots"}, "offer_amount 'lots': give a number"),
    ):
        with pytest.raises(InvalidInput, match=says):
            calls.save_step(db, rep, call.id, "offer", given, policy=POLICY)
    # "90% off for life": above the rep's 10 %, so it waits for approval ...
    calls.save_step(
        db,
        rep,
        call.id,
        "offer",
        {"offer_kind": "price_break", "offer_amount": "90", "offer_text": "90% off for life"},
        policy=POLICY,
    )
    asked = db.get(Concession, call.offer_concession_id)
    assert asked is not None
    assert (asked.kind, asked.asked, asked.state, asked.call_id) == (
        "discount_pct",
        90.0,
        "pending",
        call.id,
    )
    # ... and the case cannot close won back on it, by the call or the close form.
    with pytest.raises(InvalidInput, match=f"request {asked.id} is still waiting"):
        calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=POLICY)
    with pytest.raises(InvalidInput, match=f"request {asked.id} is still waiting"):
        cases.close_case(db, rep, case.id, "won_back", policy=POLICY, follow_up_on=_soon())
    # Refused: the call's offer stands in the way until the offer step is answered again.
    concessions.decide(db, people["executive"], asked.id, decision="refuse")
    with pytest.raises(InvalidInput, match="was refused: answer the call's offer step again"):
        calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=POLICY)
    calls.save_step(
        db, rep, call.id, "offer", {"offer_kind": "coupon", "offer_amount": 20}, policy=POLICY
    )
    second = db.get(Concession, call.offer_concession_id)
    assert second is not None
    assert second.state == "pending"
    concessions.decide(db, manager, second.id, decision="approve")
    calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=POLICY)
    calls.save_step(db, rep, call.id, "follow_up", {"follow_up_on": _soon(3)}, policy=POLICY)
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "won_back")


def test_an_offer_within_the_limit_is_granted_at_once(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = _call_at(db, rep, case, "offer")
    calls.save_step(
        db, rep, call.id, "offer", {"offer_kind": "credit", "offer_amount": 25}, policy=POLICY
    )
    given = db.get(Concession, call.offer_concession_id)
    assert given is not None
    assert (given.kind, given.granted, given.state, given.route) == (
        "credit",
        25.0,
        "granted",
        "self",
    )


def _logged(**changes: object) -> LoggedCall:
    values: dict[str, Any] = {
        "occurred_at": tasks.utcnow() - timedelta(hours=1),
        "apology": "Sorry.",
        "listening": "Late boxes.",
        "reasons": ["delivery"],
        "verification": "yes",
        "asks": "a fixed day",
        "outcome": "won_back",
        "follow_up_on": _soon(7),
    }
    values.update(changes)
    return LoggedCall(**values)


def test_a_logged_call_cannot_win_back_on_an_offer_waiting_for_approval(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    promise = [Commitment("book slots", rep.id, _soon(2))]
    big = _logged(commitments=promise, offer_kind="price_break", offer_amount=90.0)
    with pytest.raises(InvalidInput, match="above your limit and waits for approval"):
        calls.log_call(db, rep, case.id, big, policy=POLICY)
    assert db.scalar(select(func.count()).select_from(Concession)) == 0
    assert db.scalar(select(func.count()).select_from(Call)) == 0
    # Asked for first, approved, then named by the logged call.
    asked = concessions.request_concession(db, rep, case.id, kind="discount_pct", amount=20)
    concessions.decide(db, people["manager"], asked.id, decision="approve")
    named = _logged(commitments=promise, offer_kind="coupon", offer_concession_id=asked.id)
    call = calls.log_call(db, rep, case.id, named, policy=POLICY)
    assert call.offer_concession_id == asked.id
    db.refresh(case)
    assert case.outcome == "won_back"


def test_no_follow_up_done_while_a_promise_is_open(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    promise = [Commitment("refund the late fee", rep.id, _soon(2))]
    calls.log_call(db, rep, case.id, _logged(commitments=promise), policy=POLICY)
    follow = db.scalars(select(Task).where(Task.kind == "follow_up")).one()
    owed = db.scalars(select(Task).where(Task.kind == "commitment")).one()
    for solved, nxt in ((True, None), (False, _soon(9))):
        with pytest.raises(Conflict, match="'refund the late fee'"):
            tasks.complete_task(db, rep, follow.id, solved=solved, next_due=nxt)
    db.refresh(follow)
    assert follow.done_at is None
    tasks.complete_task(db, rep, owed.id, result="refunded")
    tasks.complete_task(db, rep, follow.id, result="all good", solved=True)
    db.refresh(case)
    assert case.problem_solved_at is not None


def test_every_answer_is_kept_and_audited_with_its_values(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = calls.start_call(db, rep, case.id)
    for step, given in (
        ("apology", {"apology": "Sorry."}),
        ("listening", {"listening": "Late boxes."}),
        ("diagnosis", {"reasons": ["price"]}),
        ("verification", {"verification": "no", "correction": "it was delivery"}),
        ("diagnosis", {"reasons": ["delivery"]}),
        ("verification", {"verification": "yes", "customer_words": "late!"}),
    ):
        calls.save_step(db, rep, call.id, step, given, policy=POLICY)
    kept = [(a.step, a.answers) for a in calls.answers_of(db, call.id)]
    assert kept[2:] == [
        ("diagnosis", {"reasons": ["price"]}),
        (
            "verification",
            {"verification": "no", "correction": "it was delivery", "customer_words": ""},
        ),
        ("diagnosis", {"reasons": ["delivery"]}),
        ("verification", {"verification": "yes", "correction": "", "customer_words": "late!"}),
    ]
    assert all(a.user_id == rep.id for a in db.scalars(select(CallAnswer)))
    audits = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "call.step").order_by(AuditEntry.id)
    ).all()
    second_diagnosis = audits[4]
    assert second_diagnosis.before is not None
    assert second_diagnosis.after is not None
    assert second_diagnosis.before["reasons"] == ["price"]
    assert second_diagnosis.after["reasons"] == ["delivery"]
    assert audits[3].after is not None
    assert audits[3].after["correction"] == "it was delivery"
