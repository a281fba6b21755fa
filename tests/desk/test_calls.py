"""The guided call: each answer saved as given, resumable, logged after the fact; the
reason taxonomy; follow-up tasks until the problem is solved."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from winback.desk import calls, tasks, taxonomy
from winback.desk.calls import Commitment, LoggedCall
from winback.desk.models import Call, Case, Task, User, utcnow
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput, PermissionDenied
from winback.policy import Policy


@pytest.fixture
def case(db: Session, people: dict[str, User], tmp_path: Path) -> Case:
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "reasons": ["no order for 200 days"]},
        {"customer_id": "c2", "name": "Bolt & Co", "rank": 2},
    ]
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)
    made = list(db.scalars(select(Case).order_by(Case.customer_id)))
    for c in made:
        c.owner_id = people["rep"].id
    made[1].owner_id = people["rep2"].id
    db.commit()
    return made[0]


def _soon(days: int = 7) -> date:
    return utcnow().date() + timedelta(days=days)


def test_a_whole_call_step_by_step(db: Session, people: dict[str, User], case: Case) -> None:
    rep = people["rep"]
    call = calls.start_call(db, rep, case.id)
    assert (case.state, case.contacted, call.step) == ("working", True, "apology")
    # Resumable: starting again gives the same call, at the same place.
    assert calls.start_call(db, rep, case.id).id == call.id

    calls.save_step(
        db, rep, call.id, "apology", {"apology": "Sorry about the late boxes."}, policy=Policy()
    )
    with pytest.raises(Conflict, match="comes later"):
        calls.save_step(db, rep, call.id, "asks", {"asks": "skip ahead"}, policy=Policy())
    calls.save_step(
        db, rep, call.id, "listening", {"listening": "Three boxes late in March."}, policy=Policy()
    )
    with pytest.raises(InvalidInput, match="not in the taxonomy"):
        calls.save_step(db, rep, call.id, "diagnosis", {"reasons": ["astrology"]}, policy=Policy())
    calls.save_step(db, rep, call.id, "diagnosis", {"reasons": ["price"]}, policy=Policy())

    # The customer says no: the correction is required, and the call goes back a step.
    with pytest.raises(InvalidInput, match="correction"):
        calls.save_step(db, rep, call.id, "verification", {"verification": "no"}, policy=Policy())
    calls.save_step(
        db,
        rep,
        call.id,
        "verification",
        {"verification": "no", "correction": "it was delivery"},
        policy=Policy(),
    )
    assert call.step == "diagnosis"
    calls.save_step(
        db, rep, call.id, "diagnosis", {"reasons": ["delivery", "service"]}, policy=Policy()
    )
    calls.save_step(
        db,
        rep,
        call.id,
        "verification",
        {"verification": "partly", "correction": "mostly delivery", "customer_words": "late!"},
        policy=Policy(),
    )
    calls.save_step(db, rep, call.id, "asks", {"asks": "a fixed delivery day"}, policy=Policy())
    with pytest.raises(InvalidInput, match="at least one commitment"):
        calls.save_step(db, rep, call.id, "plan", {}, policy=Policy())
    with pytest.raises(InvalidInput, match="past"):
        calls.add_commitment(db, rep, call.id, Commitment("book slots", rep.id, _soon(-1)))
    task = calls.add_commitment(
        db, rep, call.id, Commitment("book Tuesday slots", people["manager"].id, _soon(3))
    )
    calls.save_step(db, rep, call.id, "plan", {}, policy=Policy())
    calls.save_step(
        db,
        rep,
        call.id,
        "offer",
        {"offer_kind": "guarantee", "offer_text": "on time or free"},
        policy=Policy(),
    )
    calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=Policy())
    db.refresh(case)
    # A win-back closes with its first follow-up, at the next step.
    assert (case.state, case.outcome) == ("working", None)
    assert call.step == "follow_up"
    assert call.finished_at is None
    with pytest.raises(InvalidInput, match="schedule the first follow-up"):
        calls.save_step(db, rep, call.id, "follow_up", {}, policy=Policy())
    calls.save_step(
        db, rep, call.id, "follow_up", {"follow_up_on": _soon(14).isoformat()}, policy=Policy()
    )
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "won_back")

    saved = db.get(Call, call.id)
    assert saved is not None
    assert saved.finished_at is not None
    assert saved.reasons == ["delivery", "service"]
    assert (saved.verification, saved.correction, saved.customer_words) == (
        "partly",
        "mostly delivery",
        "late!",
    )
    assert (saved.offer_kind, saved.outcome) == ("guarantee", "won_back")
    # The commitment is on the manager's list; the follow-up on the case owner's.
    assert [t.title for t in tasks.my_tasks(db, people["manager"])] == ["book Tuesday slots"]
    mine = tasks.my_tasks(db, rep)
    assert [(t.kind, t.due_on) for t in mine] == [("follow_up", _soon(14))]
    assert task.call_id == call.id
    with pytest.raises(Conflict, match="finished"):
        calls.save_step(db, rep, call.id, "apology", {"apology": "again"}, policy=Policy())


def test_no_answer_jumps_to_the_outcome_from_any_step(
    db: Session, people: dict[str, User], case: Case
) -> None:
    call = calls.start_call(db, people["rep"], case.id)
    with pytest.raises(Conflict, match="comes later"):
        calls.save_step(
            db, people["rep"], call.id, "outcome", {"outcome": "won_back"}, policy=Policy()
        )
    calls.save_step(
        db, people["rep"], call.id, "outcome", {"outcome": "unreachable"}, policy=Policy()
    )
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "unreachable")
    # The follow-up is optional here: an empty answer finishes the call.
    calls.save_step(db, people["rep"], call.id, "follow_up", {}, policy=Policy())
    assert call.finished_at is not None
    assert tasks.my_tasks(db, people["rep"]) == []


def test_only_the_owner_or_a_manager_runs_a_call(
    db: Session, people: dict[str, User], case: Case
) -> None:
    with pytest.raises(PermissionDenied, match="not yours"):
        calls.start_call(db, people["rep2"], case.id)
    call = calls.start_call(db, people["manager"], case.id)
    with pytest.raises(PermissionDenied):
        calls.save_step(db, people["rep2"], call.id, "apology", {"apology": "hi"}, policy=Policy())


def _logged(**changes: object) -> LoggedCall:
    values: dict[str, object] = {
        "occurred_at": utcnow() - timedelta(hours=2),
        "apology": "Sorry about the deliveries.",
        "listening": "Three late boxes.",
        "reasons": ["delivery"],
        "verification": "yes",
        "asks": "a fixed day",
        "outcome": "won_back",
        "customer_words": "maybe-Tuesday is no good",
        "commitments": [],
        "offer_kind": "guarantee",
        "follow_up_on": _soon(7),
    }
    values.update(changes)
    return LoggedCall(**values)  # type: ignore[arg-type]


def test_a_call_logged_after_the_fact(db: Session, people: dict[str, User], case: Case) -> None:
    rep = people["rep"]
    commitments = [Commitment("book Tuesday slots", rep.id, _soon(2))]
    call = calls.log_call(db, rep, case.id, _logged(commitments=commitments), policy=Policy())
    db.refresh(case)
    assert (call.source, call.finished_at is not None, case.outcome) == ("api", True, "won_back")
    kinds = sorted(t.kind for t in tasks.my_tasks(db, rep))
    assert kinds == ["commitment", "follow_up"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reasons": ["astrology"]}, "not in the taxonomy"),
        ({"verification": "no"}, "rejected the diagnosis"),
        ({"verification": "partly"}, "correction"),
        ({"follow_up_on": None}, "follow-up"),
        ({"offer_kind": "pony"}, "offer_kind"),
        ({"occurred_at": utcnow() + timedelta(days=1)}, "future"),
    ],
)
def test_a_bad_logged_call_stores_nothing(
    db: Session, people: dict[str, User], case: Case, change: dict[str, object], message: str
) -> None:
    rep = people["rep"]
    commitments = [Commitment("book Tuesday slots", rep.id, _soon(2))]
    with pytest.raises(InvalidInput, match=message):
        calls.log_call(
            db, rep, case.id, _logged(commitments=commitments, **change), policy=Policy()
        )
    db.refresh(case)
    assert case.state == "open"
    assert case.outcome is None
    assert db.scalar(select(func.count()).select_from(Call)) == 0
    assert db.scalar(select(func.count()).select_from(Task)) == 0


def test_the_suggested_apology_names_what_went_wrong(case: Case) -> None:
    incidents = [
        {
            "type": "late_delivery",
            "occurred_on": date(2024, 3, 5),
            "description": "order 17 arrived a week late",
            "resolved_on": None,
        },
        {
            "type": "billing_error",
            "occurred_on": date(2024, 2, 1),
            "description": None,
            "resolved_on": date(2024, 2, 3),
        },
    ]
    text = calls.suggested_apology(case, incidents)
    assert "order 17 arrived a week late on 05 March 2024 and it is still not put right" in text
    assert "billing error on 01 February 2024" in text
    assert "Acme Ltd" in text
    # No incidents on record: the scan's reason instead.
    assert "no order for 200 days" in calls.suggested_apology(case, [])


def test_the_taxonomy_is_editable_and_retired_reasons_are_refused(
    db: Session, people: dict[str, User], case: Case
) -> None:
    manager = people["manager"]
    added = taxonomy.add_reason(db, manager, "Slow support")
    assert added.code == "slow_support"
    with pytest.raises(Conflict):
        taxonomy.add_reason(db, manager, "slow support")
    with pytest.raises(PermissionDenied):
        taxonomy.add_reason(db, people["rep"], "Rude driver")
    taxonomy.update_reason(db, manager, added.id, label="Support too slow")
    assert taxonomy.reason_labels(db)["slow_support"] == "Support too slow"
    taxonomy.update_reason(db, manager, added.id, active=False)
    assert "slow_support" not in {r.code for r in taxonomy.reason_codes(db)}
    # Old calls still show its label; a new diagnosis cannot use it.
    assert taxonomy.reason_labels(db)["slow_support"] == "Support too slow"
    call = calls.start_call(db, people["rep"], case.id)
    calls.save_step(db, people["rep"], call.id, "apology", {"apology": "sorry"}, policy=Policy())
    calls.save_step(
        db, people["rep"], call.id, "listening", {"listening": "notes"}, policy=Policy()
    )
    with pytest.raises(InvalidInput, match="slow_support"):
        calls.save_step(
            db, people["rep"], call.id, "diagnosis", {"reasons": ["slow_support"]}, policy=Policy()
        )


def test_follow_ups_go_on_until_the_customer_confirms(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = calls.log_call(
        db,
        rep,
        case.id,
        _logged(commitments=[Commitment("call back", rep.id, _soon(1))]),
        policy=Policy(),
    )
    follow = next(t for t in tasks.my_tasks(db, rep) if t.kind == "follow_up")
    promise = next(t for t in tasks.my_tasks(db, rep) if t.kind == "commitment")
    with pytest.raises(Conflict, match=r"commitment .* is still open"):
        tasks.complete_task(db, rep, follow.id, result="rang", solved=True)
    tasks.complete_task(db, rep, promise.id, result="rang back")
    with pytest.raises(InvalidInput, match="confirm the problem is solved"):
        tasks.complete_task(db, rep, follow.id, result="rang")
    with pytest.raises(InvalidInput, match="next follow-up"):
        tasks.complete_task(db, rep, follow.id, result="still late", solved=False)
    tasks.complete_task(db, rep, follow.id, result="still late", solved=False, next_due=_soon(10))
    nxt = next(t for t in tasks.my_tasks(db, rep) if t.kind == "follow_up")
    assert (nxt.due_on, nxt.call_id) == (_soon(10), call.id)
    with pytest.raises(Conflict, match="done already"):
        tasks.complete_task(db, rep, follow.id, solved=True)
    with pytest.raises(PermissionDenied):
        tasks.complete_task(db, people["rep2"], nxt.id, solved=True)
    tasks.complete_task(db, rep, nxt.id, result="all good now", solved=True)
    db.refresh(case)
    assert case.problem_solved_at is not None
    assert not [t for t in tasks.my_tasks(db, rep) if t.kind == "follow_up"]


def test_managers_see_overdue_work_by_rep(db: Session, people: dict[str, User], case: Case) -> None:
    today = utcnow().date()
    for owner, days in (("rep", -3), ("rep", -1), ("rep2", -5), ("rep2", 2)):
        tasks.add_task(
            db,
            None,
            kind="follow_up",
            title=f"ring {days}",
            customer_id="c1",
            owner_id=people[owner].id,
            due_on=today + timedelta(days=days),
        )
    db.commit()
    rows = tasks.overdue_by_owner(db, people["manager"])
    assert [(r.owner_name, r.overdue, r.oldest_due) for r in rows] == [
        ("Rep", 2, today - timedelta(days=3)),
        ("Rep Two", 1, today - timedelta(days=5)),
    ]
    with pytest.raises(PermissionDenied):
        tasks.overdue_by_owner(db, people["rep"])
    mine = tasks.my_tasks(db, people["rep2"])
    assert [tasks.due_label(t) for t in mine] == ["overdue by 5 days", "due in 2 days"]
    assert [tasks.is_overdue(t) for t in mine] == [True, False]


def test_a_failed_close_leaves_nothing_half_done(
    db: Session, people: dict[str, User], case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    from winback.desk import red_carpet

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the red carpet could not start")

    monkeypatch.setattr(red_carpet, "start", broken)
    rep = people["rep"]
    commitments = [Commitment("book Tuesday slots", rep.id, _soon(2))]
    with pytest.raises(RuntimeError):
        calls.log_call(db, rep, case.id, _logged(commitments=commitments), policy=Policy())
    db.refresh(case)
    assert (case.state, case.outcome) == ("open", None)
    assert db.scalar(select(func.count()).select_from(Call)) == 0
    assert db.scalar(select(func.count()).select_from(Task)) == 0

    # The same through the call (a win-back closes at the follow-up step): the call stays
    # at the follow-up, the case open, no follow-up task.
    call = calls.start_call(db, rep, case.id)
    call.step = "outcome"
    db.commit()
    calls.save_step(db, rep, call.id, "outcome", {"outcome": "won_back"}, policy=Policy())
    with pytest.raises(RuntimeError):
        calls.save_step(db, rep, call.id, "follow_up", {"follow_up_on": _soon(3)}, policy=Policy())
    db.refresh(case)
    db.refresh(call)
    assert (case.state, call.step, call.finished_at) == ("working", "follow_up", None)
    assert db.scalar(select(func.count()).select_from(Task)) == 0


def test_a_new_diagnosis_is_put_to_the_customer_again(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = calls.start_call(db, rep, case.id)
    for step, answers in (
        ("apology", {"apology": "sorry"}),
        ("listening", {"listening": "notes"}),
        ("diagnosis", {"reasons": ["delivery"]}),
        ("verification", {"verification": "yes", "customer_words": "late, always late"}),
        ("asks", {"asks": "a fixed day"}),
    ):
        calls.save_step(db, rep, call.id, step, answers, policy=Policy())
    assert call.step == "plan"
    # Answering the diagnosis again with the same reasons keeps the customer's answer ...
    calls.save_step(db, rep, call.id, "diagnosis", {"reasons": ["delivery"]}, policy=Policy())
    assert (call.step, call.verification) == ("plan", "yes")
    # ... a different diagnosis has not been put to them: they are asked again.
    calls.save_step(db, rep, call.id, "diagnosis", {"reasons": ["price"]}, policy=Policy())
    assert (call.step, call.verification, call.customer_words) == ("verification", None, "")
    with pytest.raises(Conflict, match="comes later"):
        calls.save_step(db, rep, call.id, "asks", {"asks": "skip the check"}, policy=Policy())


def test_a_follow_up_owner_must_be_a_user_number(
    db: Session, people: dict[str, User], case: Case
) -> None:
    rep = people["rep"]
    call = calls.start_call(db, rep, case.id)
    call.step, call.outcome = "follow_up", "declined"
    db.commit()
    with pytest.raises(InvalidInput, match="follow_up_owner_id"):
        calls.save_step(
            db,
            rep,
            call.id,
            "follow_up",
            {"follow_up_on": _soon(3).isoformat(), "follow_up_owner_id": "abc"},
            policy=Policy(),
        )


def test_a_follow_up_of_someone_who_left_passes_to_who_answers(
    db: Session, people: dict[str, User], case: Case
) -> None:
    from winback.desk import users

    rep2 = people["rep2"]
    follow = tasks.add_task(
        db,
        None,
        kind="follow_up",
        title="check in",
        customer_id="c1",
        owner_id=rep2.id,
        due_on=_soon(1),
        case_id=case.id,
    )
    db.commit()
    users.set_active(db, people["admin"], rep2.id, False)
    tasks.complete_task(
        db, people["manager"], follow.id, result="not yet", solved=False, next_due=_soon(5)
    )
    (following,) = tasks.my_tasks(db, people["manager"])
    assert (following.kind, following.due_on) == ("follow_up", _soon(5))
