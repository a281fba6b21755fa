"""The guided call: a step-by-step conversation with a customer who left, each answer saved
as it is given, so a call can be resumed later (or logged after the fact through the API).

Steps (``CALL_STEPS``): apology → listening → diagnosis → verification → asks → plan →
offer → outcome → follow_up. The outcome closes the case; the follow-up step schedules the
first follow-up task, and follow-ups go on until the customer confirms the problem is solved
(see ``winback.desk.tasks.complete_task``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.clock import naive_utc
from winback.desk import audit, concessions, tasks
from winback.desk.cases import (
    COMING_BACK,
    check_close,
    close_case,
    get_case,
    locked_case,
    undo,
)
from winback.desk.db import parse_id
from winback.desk.do_not_contact import refuse_if_blocked
from winback.desk.models import (
    CALL_STEPS,
    OFFER_KINDS,
    PERSON_OUTCOMES,
    VERIFICATIONS,
    Call,
    CallAnswer,
    Case,
    Concession,
    Task,
    User,
    utcnow,
)
from winback.desk.permissions import require_case_work
from winback.desk.taxonomy import reason_codes
from winback.errors import Conflict, InvalidInput, NotFound
from winback.policy import Policy

MAX_TEXT = 5000
# Outcomes after which a first follow-up must be scheduled: the customer is coming back,
# so someone checks that the problem stays solved. The case closes with such an outcome at
# the follow-up step, together with the follow-up task (the same rule as every close).
FOLLOW_UP_REQUIRED = COMING_BACK
# Offers that give the customer something the concession limits govern, by concession kind:
# the offer step grants them within the rep's limit or sends them for approval.
OFFER_CONCESSIONS = {
    "price_break": "discount_pct",
    "coupon": "discount_pct",
    "credit": "credit",
    "free_items": "free_items",
}
# What each step stores on the call: the values its history and audit keep.
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "apology": ("apology",),
    "listening": ("listening",),
    "diagnosis": ("reasons",),
    "verification": ("verification", "correction", "customer_words"),
    "asks": ("asks",),
    "plan": (),
    "offer": ("offer_kind", "offer_text", "offer_concession_id"),
    "outcome": ("outcome",),
    "follow_up": (),
}
# Outcomes that need no conversation, so the call may jump to them from any step.
NO_CONVERSATION = ("unreachable", "not_pursued")


def get_call(db: Session, actor: User, call_id: int) -> tuple[Call, Case]:
    call = db.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}")
    case = get_case(db, actor, call.case_id)
    require_case_work(actor, case)
    return call, case


def calls_of_cases(db: Session, case_ids: list[int]) -> list[Call]:
    if not case_ids:
        return []
    query = select(Call).where(Call.case_id.in_(case_ids)).order_by(Call.id.desc())
    return list(db.scalars(query))


def open_call(db: Session, case_id: int) -> Call | None:
    """The case's unfinished call, if any: a call is resumed, not started twice."""
    query = select(Call).where(Call.case_id == case_id, Call.finished_at.is_(None))
    return db.scalars(query.order_by(Call.id.desc())).first()


def _mark_contacted(db: Session, actor: User, case: Case) -> None:
    if case.contacted and case.state == "working":
        return
    before = {"state": case.state, "contacted": case.contacted}
    case.contacted, case.state, case.updated_at = True, "working", utcnow()
    audit.record(
        db, actor, "case.contact", "case", case.id, before, {"state": "working", "contacted": True}
    )


def start_call(db: Session, actor: User, case_id: int) -> Call:
    """Start a guided call on an open case, or return the one already under way."""
    case = get_case(db, actor, case_id)
    require_case_work(actor, case)
    if case.state == "closed":
        raise Conflict(f"case {case_id} is closed ({case.outcome}); there is nobody to call back")
    refuse_if_blocked(db, case.customer_id, "a call")
    existing = open_call(db, case.id)
    if existing is not None:
        return existing
    call = Call(case_id=case.id, user_id=actor.id, source="page", step=CALL_STEPS[0])
    db.add(call)
    db.flush()
    _mark_contacted(db, actor, case)
    audit.record(db, actor, "call.start", "call", call.id, None, {"case_id": case.id})
    db.commit()
    return call


def _text(answers: dict[str, Any], name: str, *, required: str | None = None) -> str:
    value = answers.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise InvalidInput(f"{name}: {required}")
    return value[:MAX_TEXT]


def parse_date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not a date (use YYYY-MM-DD)") from None


@dataclass
class Commitment:
    """One promise of the plan of action: what, who does it, by when."""

    text: str
    owner_id: int
    due_on: date


def _commitments(db: Session, call: Call) -> list[Task]:
    query = select(Task).where(Task.call_id == call.id, Task.kind == "commitment")
    return list(db.scalars(query.order_by(Task.id)))


def add_commitment(db: Session, actor: User, call_id: int, item: Commitment) -> Task:
    """Add one commitment to the call's plan: a task on its owner's queue."""
    call, case = get_call(db, actor, call_id)
    if call.finished_at is not None:
        raise Conflict(f"call {call_id} is finished")
    return _commit(db, actor, call, case, item, commit=True)


def _commit(
    db: Session, actor: User, call: Call, case: Case, item: Commitment, *, commit: bool
) -> Task:
    if not item.text.strip():
        raise InvalidInput("a commitment says what will be done, e.g. 'refund the late fee'")
    if item.due_on < (call.started_at.date() if call.source == "api" else tasks.today()):
        raise InvalidInput(f"commitment due {item.due_on}: a due date cannot be in the past")
    task = tasks.add_task(
        db,
        actor,
        kind="commitment",
        title=item.text,
        customer_id=case.customer_id,
        owner_id=item.owner_id,
        due_on=item.due_on,
        case_id=case.id,
        call_id=call.id,
    )
    if commit:
        db.commit()
    return task


def _task_owner(db: Session, given: Any, case: Case, actor: User) -> int | None:
    """Who follows up: the user named, else the case's owner, else the actor; nobody (a
    manager assigns it) when none of them can hold tasks."""
    if given not in (None, ""):
        return parse_id(given, "follow_up_owner_id", "give a user's number")
    return tasks.default_owner(db, case.owner_id, actor)


def step_values(db: Session, call: Call, step: str) -> dict[str, Any]:
    """What the call holds for ``step``: the values its history and the audit record."""
    values: dict[str, Any] = {name: getattr(call, name) for name in STEP_FIELDS[step]}
    if step in ("plan", "follow_up"):
        kind = "commitment" if step == "plan" else "follow_up"
        query = select(Task.id).where(Task.call_id == call.id, Task.kind == kind)
        values[f"{kind}_tasks"] = list(db.scalars(query.order_by(Task.id)))
    if isinstance(values.get("reasons"), list):
        values["reasons"] = list(values["reasons"])
    return values


def answers_of(db: Session, call_id: int) -> list[CallAnswer]:
    """Every answer given on the call, oldest first (answers given again included)."""
    query = select(CallAnswer).where(CallAnswer.call_id == call_id)
    return list(db.scalars(query.order_by(CallAnswer.id)))


def _keep_answer(db: Session, actor: User, call: Call, step: str) -> dict[str, Any]:
    values = step_values(db, call, step)
    db.add(CallAnswer(call_id=call.id, step=step, answers=values, user_id=actor.id))
    return values


def _amount(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"offer_amount {value!r}: give a number")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        raise InvalidInput(f"offer_amount {value!r}: give a number, e.g. 10") from None


def _offer(
    db: Session, actor: User, call: Call, case: Case, kind: str, answers: dict[str, Any]
) -> int | None:
    """The concession an offer of ``kind`` gives: the one named (``offer_concession_id``, a
    request on this case), else one asked for now (``offer_amount``): granted within the
    actor's limit, sent for approval above it. None for an offer that gives nothing the
    limits govern."""
    concession_kind = OFFER_CONCESSIONS.get(kind)
    named = answers.get("offer_concession_id")
    amount = answers.get("offer_amount")
    if concession_kind is None:
        if named not in (None, "") or amount not in (None, ""):
            raise InvalidInput(
                f"offer_kind {kind!r} gives no concession: leave offer_amount empty, or "
                f"choose one of {', '.join(OFFER_CONCESSIONS)}"
            )
        return None
    label = concessions.LABELS[concession_kind]
    if named not in (None, "") and amount not in (None, ""):
        raise InvalidInput(
            "offer_amount and offer_concession_id: give one, a new request or one on the panel"
        )
    if named not in (None, ""):
        concession_id = parse_id(named, "offer_concession_id", "choose a concession request")
        found = db.get(Concession, concession_id)
        if found is None or found.case_id != case.id:
            raise InvalidInput(
                f"offer_concession_id {concession_id}: no concession request on case {case.id}"
            )
        if found.kind != concession_kind:
            raise InvalidInput(
                f"offer_concession_id {concession_id} is {concessions.LABELS[found.kind]}, "
                f"not {label} ({kind})"
            )
        if found.state not in ("granted", "countered", "pending"):
            raise InvalidInput(f"offer_concession_id {concession_id} was {found.state}")
        return found.id
    if amount in (None, ""):
        raise InvalidInput(
            f"offer_amount: how much {label} is offered? Within your limit it is granted "
            "at once; above it, it goes to a manager for approval"
        )
    note = _text(answers, "offer_text") or f"offer of call {call.id}"
    given = concessions.request_concession(
        db,
        actor,
        case.id,
        kind=concession_kind,
        amount=_amount(amount),
        note=note,
        call_id=call.id,
        commit=False,
    )
    return given.id


def _check_reasons(db: Session, codes: list[str]) -> list[str]:
    known = {r.code for r in reason_codes(db)}
    cleaned = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if not cleaned:
        raise InvalidInput("reasons: choose at least one reason the customer left")
    unknown = [c for c in cleaned if c not in known]
    if unknown:
        raise InvalidInput(
            f"reasons: {', '.join(unknown)} not in the taxonomy (use {', '.join(sorted(known))})"
        )
    return cleaned


def _apply_step(
    db: Session, actor: User, call: Call, case: Case, step: str, answers: dict[str, Any]
) -> str:
    """Validate and store one step's answers; return the step that comes next."""
    nxt = CALL_STEPS[CALL_STEPS.index(step) + 1] if step != CALL_STEPS[-1] else "done"
    if step == "apology":
        call.apology = _text(answers, "apology", required="say the apology you opened with")
    elif step == "listening":
        call.listening = _text(answers, "listening", required="note what the customer told you")
    elif step == "diagnosis":
        raw = answers.get("reasons") or []
        reasons = _check_reasons(db, [raw] if isinstance(raw, str) else list(raw))
        if reasons != call.reasons and call.verification is not None:
            # A new diagnosis has not been put to the customer: ask them again.
            call.verification, call.correction, call.customer_words = None, "", ""
            call.step = "verification"
        call.reasons = reasons
    elif step == "verification":
        verdict = _text(answers, "verification")
        if verdict not in VERIFICATIONS:
            raise InvalidInput(
                f"verification: did the customer agree? use {', '.join(VERIFICATIONS)}"
            )
        call.verification = verdict
        call.correction = _text(
            answers,
            "correction",
            required="the customer did not fully agree: write their correction"
            if verdict != "yes"
            else None,
        )
        call.customer_words = _text(answers, "customer_words")
        if verdict == "no":
            nxt = "diagnosis"  # the diagnosis was wrong: diagnose again with the correction
    elif step == "asks":
        call.asks = _text(
            answers, "asks", required="what does the customer ask for to make it right?"
        )
    elif step == "plan":
        if not _commitments(db, call):
            raise InvalidInput(
                "plan: add at least one commitment (what, who, by when) before going on"
            )
    elif step == "offer":
        kind = _text(answers, "offer_kind") or "none"
        if kind not in OFFER_KINDS:
            raise InvalidInput(f"offer_kind {kind!r}: use one of {', '.join(OFFER_KINDS)}")
        call.offer_concession_id = _offer(db, actor, call, case, kind, answers)
        call.offer_kind, call.offer_text = kind, _text(answers, "offer_text")
    elif step == "outcome":
        outcome = _text(answers, "outcome")
        if outcome not in PERSON_OUTCOMES:
            raise InvalidInput(f"outcome {outcome!r}: use one of {', '.join(PERSON_OUTCOMES)}")
        if case.state != "closed":
            # The rules of a close, but the follow-up: it is scheduled at the next step.
            check_close(db, case, outcome, follow_up_needed=False)
        call.outcome = outcome
    elif step == "follow_up":
        due = answers.get("follow_up_on")
        if due in (None, ""):
            if call.outcome in FOLLOW_UP_REQUIRED:
                raise InvalidInput(
                    "follow_up_on: the customer is coming back; schedule the first follow-up "
                    "to check the problem is solved"
                )
        else:
            due_on = parse_date(due, "follow_up_on")
            if due_on < (call.started_at.date() if call.source == "api" else tasks.today()):
                raise InvalidInput(f"follow_up_on {due_on}: a follow-up cannot be in the past")
            owner = _task_owner(db, answers.get("follow_up_owner_id"), case, actor)
            who = case.customer_name or case.customer_id
            tasks.add_task(
                db,
                actor,
                kind="follow_up",
                title=_text(answers, "follow_up_title")
                or f"Check with {who} that the problem is solved",
                customer_id=case.customer_id,
                owner_id=owner,
                due_on=due_on,
                case_id=case.id,
                call_id=call.id,
            )
    else:  # pragma: no cover - guarded by the caller
        raise InvalidInput(f"step {step!r}: use one of {', '.join(CALL_STEPS)}")
    return nxt


def save_step(
    db: Session,
    actor: User,
    call_id: int,
    step: str,
    answers: dict[str, Any],
    *,
    policy: Policy,
) -> Call:
    """Save one step's answers and move the call on. Steps already answered may be answered
    again (the rep goes back); steps ahead of the call's place may not be skipped."""
    call, case = get_call(db, actor, call_id)
    if step not in CALL_STEPS:
        raise InvalidInput(f"step {step!r}: use one of {', '.join(CALL_STEPS)}")
    if call.finished_at is not None:
        raise Conflict(f"call {call_id} is finished")
    # No answer, no conversation: the outcome may be recorded at any step.
    skipping = step == "outcome" and str(answers.get("outcome", "")) in NO_CONVERSATION
    if CALL_STEPS.index(step) > CALL_STEPS.index(call.step) and not skipping:
        raise Conflict(f"step {step!r} comes later: answer {call.step!r} first")
    if case.state == "closed" and CALL_STEPS.index(step) < CALL_STEPS.index("follow_up"):
        raise Conflict(f"case {case.id} is closed ({case.outcome}); only the follow-up is left")
    before: dict[str, Any] = {"step": call.step, **step_values(db, call, step)}
    try:
        nxt = _apply_step(db, actor, call, case, step, answers)
        # Going back to an earlier step does not forget the later answers' place.
        if nxt != "done" and (
            CALL_STEPS.index(nxt) > CALL_STEPS.index(call.step)
            or (step, nxt) == ("verification", "diagnosis")
        ):
            call.step = nxt
        call.updated_at = utcnow()
        after: dict[str, Any] = {"step": call.step, "answered": step}
        after.update(_keep_answer(db, actor, call, step))
        if nxt == "done":
            call.finished_at = utcnow()
            after["finished"] = True
        audit.record(db, actor, "call.step", "call", call.id, before, after)
        closing = case.state != "closed" and (
            (step == "outcome" and call.outcome not in FOLLOW_UP_REQUIRED)
            or (step == "follow_up" and call.outcome in FOLLOW_UP_REQUIRED)
        )
        if closing:
            # The outcome and the close are one change: both land or neither does. A
            # customer coming back closes with the follow-up that checks on them.
            close_case(
                db,
                actor,
                case.id,
                call.outcome or "",
                f"guided call {call.id}",
                policy=policy,
                commit=False,
            )
        db.commit()
    except Exception:
        undo(db, actor)
        raise
    return call


@dataclass
class LoggedCall:
    """A whole call at once, logged after the fact (the API)."""

    occurred_at: datetime
    apology: str
    listening: str
    reasons: list[str]
    verification: str
    asks: str
    outcome: str
    correction: str = ""
    customer_words: str = ""
    commitments: list[Commitment] = field(default_factory=list)
    offer_kind: str = "none"
    offer_text: str = ""
    offer_amount: float | None = None
    offer_concession_id: int | None = None
    follow_up_on: date | None = None
    follow_up_title: str = ""


def log_call(db: Session, actor: User, case_id: int, body: LoggedCall, *, policy: Policy) -> Call:
    """Record a call that already happened, every step at once, with the same checks as the
    page. All or nothing: a bad answer stores nothing. Of parallel logged calls and closes
    on one case exactly one lands; the others get Conflict."""
    checked = get_case(db, actor, case_id)
    require_case_work(actor, checked)
    refuse_if_blocked(db, checked.customer_id, "logging a call")
    body.occurred_at = naive_utc(body.occurred_at)
    if body.occurred_at > utcnow():
        raise InvalidInput(f"occurred_at {body.occurred_at}: a logged call cannot be in the future")
    if body.verification == "no":
        raise InvalidInput(
            "verification 'no': the customer rejected the diagnosis; log the reasons they "
            "agreed to (yes or partly) instead"
        )
    try:
        # Locked before anything is written: marking the case contacted must not reopen a
        # case that a parallel close has just closed.
        case = locked_case(db, case_id)
        require_case_work(actor, case)
        if case.state == "closed":
            raise Conflict(f"case {case_id} is closed ({case.outcome})")
        if open_call(db, case.id) is not None:
            raise Conflict(f"case {case_id} has a call under way; finish it on the desk instead")
    except Exception:
        undo(db, actor)
        raise
    call = Call(
        case_id=case.id,
        user_id=actor.id,
        source="api",
        step=CALL_STEPS[0],
        started_at=body.occurred_at,
    )
    db.add(call)
    db.flush()
    answers: dict[str, Any] = {
        "apology": body.apology,
        "listening": body.listening,
        "reasons": body.reasons,
        "verification": body.verification,
        "correction": body.correction,
        "customer_words": body.customer_words,
        "asks": body.asks,
        "offer_kind": body.offer_kind,
        "offer_text": body.offer_text,
        "offer_amount": body.offer_amount,
        "offer_concession_id": body.offer_concession_id,
        "outcome": body.outcome,
        "follow_up_on": body.follow_up_on,
        "follow_up_title": body.follow_up_title,
    }
    kept: dict[str, Any] = {}
    try:
        for step in CALL_STEPS:
            if step == "plan":
                for item in body.commitments:
                    _commit(db, actor, call, case, item, commit=False)
            call.step = step  # walked in order, as on the desk
            if step == "outcome":
                _offer_decided(db, call, body.outcome)
            _apply_step(db, actor, call, case, step, answers)
            kept[step] = _keep_answer(db, actor, call, step)
        call.step, call.finished_at, call.updated_at = CALL_STEPS[-1], utcnow(), utcnow()
        _mark_contacted(db, actor, case)
        audit.record(
            db,
            actor,
            "call.log",
            "call",
            call.id,
            None,
            {"case_id": case.id, "outcome": body.outcome, "answers": kept},
        )
        # The call, its tasks and the close are one change: all land or none does.
        close_case(
            db,
            actor,
            case.id,
            body.outcome,
            f"guided call {call.id} (logged)",
            policy=policy,
            commit=False,
        )
        db.commit()
    except Exception:
        undo(db, actor)
        raise
    return call


def _offer_decided(db: Session, call: Call, outcome: str) -> None:
    """A logged call whose customer is coming back cannot rest on an offer still waiting
    for approval: say how to get it approved first."""
    if outcome not in FOLLOW_UP_REQUIRED or call.offer_concession_id is None:
        return
    offered = db.get(Concession, call.offer_concession_id)
    if offered is not None and offered.state == "pending":
        raise InvalidInput(
            f"offer: {offered.asked:g} {concessions.LABELS[offered.kind]} (concession request "
            f"{offered.id}) is above your limit and waits for approval: ask for it with POST "
            f"/api/cases/{call.case_id}/concessions, then log the call with "
            "offer_concession_id once it is approved (or offer what your limit allows)"
        )


# --- what the rep sees -----------------------------------------------------------------


def suggested_apology(case: Case, incidents: list[dict[str, Any]]) -> str:
    """An opening that names what went wrong: the incidents on record, else the scan's
    reasons, else a plain opening."""
    name = case.customer_name or "there"
    if incidents:
        parts = []
        for i in incidents:
            what = (
                i.get("description") or str(i.get("type") or "a problem").replace("_", " ")
            ).strip()
            when = i.get("occurred_on")
            still = " and it is still not put right" if i.get("resolved_on") is None else ""
            parts.append(f"{what} on {when:%d %B %Y}{still}" if when else f"{what}{still}")
        listed = "; ".join(parts)
        return (
            f"Hello {name}, I am calling because we let you down: {listed}. "
            "I am sorry. I would like to hear what happened from you and put it right."
        )
    if case.reasons:
        return (
            f"Hello {name}, we have missed you: {case.reasons[0]}. If we did something wrong, "
            "I am sorry; I would like to hear what happened and put it right."
        )
    return (
        f"Hello {name}, we have missed you and I wanted to ask, personally, whether we let you "
        "down. If we did, I am sorry, and I would like to put it right."
    )


def suggested_offer(spot: dict[str, Any] | None) -> tuple[str, str] | None:
    """An offer that fits what the customer bought (the scan's sweet spot and risk driver):
    a guarantee on a product line that drives its buyers away, else a discount on the line
    they stopped buying, else one on what they buy most. ``(offer kind, what to say)``."""
    if not spot:
        return None
    basket = spot.get("usual_basket")
    usual = f" (their usual basket is {basket:,.2f})" if basket else ""
    failed = spot.get("risk_driver_line")
    if failed:
        return (
            "guarantee",
            f"A guarantee on {failed}: we replace or refund anything from it that lets "
            "you down. Customers who bought it have left us more often than others.",
        )
    stopped = spot.get("stopped_line")
    if stopped:
        return "coupon", f"A discount on {stopped}, which they stopped buying{usual}."
    top = list(spot.get("top_lines") or [])
    if top:
        return "coupon", f"A discount on their next order of {top[0]}{usual}."
    return None
