"""One meaning of "who may hold work": an active manager, executive or rep. A deactivated
user or an admin cannot be given a case, a task, a commitment, a follow-up or a red carpet,
whichever path gives it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD, POLICY, make_run, win_back
from winback.desk import calls, cases, red_carpet, tasks, users
from winback.desk.calls import Commitment
from winback.desk.models import Case, Task, User, utcnow
from winback.desk.permissions import may_hold_work
from winback.desk.sync import sync_cases
from winback.errors import InvalidInput
from winback.policy import Policy
from winback.web.pages import owner_options


@pytest.fixture
def gone(db: Session, people: dict[str, User]) -> User:
    """A rep who has left: deactivated by the admin."""
    user = users.create_user(
        db, None, username="gone", name="Gone Rep", role="rep", password=PASSWORD
    )
    return users.set_active(db, people["admin"], user.id, False)


@pytest.fixture
def case(db: Session, people: dict[str, User], tmp_path: Path) -> Case:
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "c1", "rank": 1}]), policy=POLICY)
    made = db.scalars(select(Case)).one()
    made.owner_id = people["rep"].id
    db.commit()
    return made


def _barred(people: dict[str, User], gone: User) -> list[User]:
    return [people["admin"], gone]


def test_only_active_managers_executives_and_reps_hold_work(
    db: Session, people: dict[str, User], gone: User
) -> None:
    assert [u.username for u in tasks.possible_owners(db)] == [
        "executive",
        "manager",
        "rep",
        "rep2",
    ]
    assert {u.username: may_hold_work(u) for u in [*people.values(), gone]} == {
        "admin": False,
        "manager": True,
        "executive": True,
        "rep": True,
        "rep2": True,
        "gone": False,
    }
    assert may_hold_work(None) is False
    # The pages' owner pickers offer the same people.
    options = str(owner_options([*people.values(), gone]))
    assert [f">{u.name} (" in options for u in (people["admin"], gone)] == [False, False]
    assert options.count("<option") == 4


def test_no_case_goes_to_an_admin_or_a_deactivated_user(
    db: Session, people: dict[str, User], gone: User, case: Case
) -> None:
    for user in _barred(people, gone):
        with pytest.raises(InvalidInput, match=f"user {user.id} cannot take cases"):
            cases.reassign(db, people["manager"], case.id, user.id)
    db.refresh(case)
    assert case.owner_id == people["rep"].id
    assert cases.reassign(db, people["manager"], case.id, people["rep2"].id).owner_id == (
        people["rep2"].id
    )


def test_no_task_or_commitment_goes_to_an_admin_or_a_deactivated_user(
    db: Session, people: dict[str, User], gone: User, case: Case
) -> None:
    call = calls.start_call(db, people["rep"], case.id)
    due = utcnow().date() + timedelta(days=3)
    for user in _barred(people, gone):
        with pytest.raises(InvalidInput, match=f"user {user.id} cannot take tasks"):
            tasks.add_task(
                db,
                people["manager"],
                kind="commitment",
                title="ring back",
                customer_id="c1",
                owner_id=user.id,
                due_on=due,
            )
        with pytest.raises(InvalidInput, match=f"user {user.id} cannot take tasks"):
            calls.add_commitment(db, people["rep"], call.id, Commitment("ring", user.id, due))
    db.rollback()
    assert db.scalars(select(Task)).all() == []


def _call_at_follow_up(db: Session, rep: User, case: Case) -> int:
    call = calls.start_call(db, rep, case.id)
    soon = utcnow().date() + timedelta(days=3)
    calls.save_step(db, rep, call.id, "apology", {"apology": "Sorry."}, policy=POLICY)
    calls.save_step(db, rep, call.id, "listening", {"listening": "Too dear."}, policy=POLICY)
    calls.save_step(db, rep, call.id, "diagnosis", {"reasons": ["price"]}, policy=POLICY)
    calls.save_step(db, rep, call.id, "verification", {"verification": "yes"}, policy=POLICY)
    calls.save_step(db, rep, call.id, "asks", {"asks": "a better price"}, policy=POLICY)
    calls.add_commitment(db, rep, call.id, Commitment("send the new price", rep.id, soon))
    calls.save_step(db, rep, call.id, "plan", {}, policy=POLICY)
    calls.save_step(
        db, rep, call.id, "offer", {"offer_kind": "coupon", "offer_amount": 5}, policy=POLICY
    )
    calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=Policy())
    return call.id


def test_no_follow_up_goes_to_an_admin_or_a_deactivated_user(
    db: Session, people: dict[str, User], gone: User, case: Case
) -> None:
    rep = people["rep"]
    call_id = _call_at_follow_up(db, rep, case)
    due = (utcnow().date() + timedelta(days=14)).isoformat()
    for user in _barred(people, gone):
        with pytest.raises(InvalidInput, match=f"user {user.id} cannot take tasks"):
            calls.save_step(
                db,
                rep,
                call_id,
                "follow_up",
                {"follow_up_on": due, "follow_up_owner_id": str(user.id)},
                policy=POLICY,
            )
    calls.save_step(db, rep, call_id, "follow_up", {"follow_up_on": due}, policy=POLICY)
    follow_up = db.scalars(select(Task).where(Task.kind == "follow_up")).one()
    assert follow_up.owner_id == rep.id
    promise = db.scalars(select(Task).where(Task.kind == "commitment")).one()
    tasks.complete_task(db, rep, promise.id, result="sent")  # kept before the follow-up

    # The owner leaves; an admin records the customer's answer: the next follow-up waits,
    # unassigned, for a manager rather than landing on the admin's (or the leaver's) list.
    users.set_active(db, people["admin"], rep.id, False)
    tasks.complete_task(
        db, people["admin"], follow_up.id, solved=False, next_due=utcnow().date() + timedelta(7)
    )
    nxt = db.scalars(select(Task).where(Task.kind == "follow_up", Task.done_at.is_(None))).one()
    assert nxt.owner_id is None


def test_an_admin_closing_an_unowned_case_does_not_own_the_red_carpet(
    db: Session, people: dict[str, User], case: Case
) -> None:
    case.owner_id = None
    db.commit()
    win_back(db, people["admin"], case.id, policy=Policy())
    carpet = red_carpet.active_for(db, "c1")
    assert carpet is not None
    assert carpet.owner_id is None
