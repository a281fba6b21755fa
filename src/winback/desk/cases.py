"""Cases: the rep's queue, the manager's view and filters, and the work done on a case."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, lazyload, selectinload

from winback.desk import audit, red_carpet, tasks
from winback.desk.db import parse_id, write_lock
from winback.desk.do_not_contact import refuse_if_blocked
from winback.desk.models import (
    ACTIVITY_KINDS,
    CASE_STATE_CHOICES,
    CONTACT_CHANNELS,
    PERSON_OUTCOMES,
    Call,
    Case,
    CaseActivity,
    Concession,
    SavedFilter,
    Task,
    User,
    utcnow,
)
from winback.desk.numbers import parse_number
from winback.desk.outcomes import is_won_back
from winback.desk.permissions import Action, require, require_case_work
from winback.errors import Conflict, InvalidInput, NotFound
from winback.policy import Policy

PAGE_SIZE = 50
# Outcomes that say the customer is coming back. They need a conversation on record (a
# logged contact, or a guided call that reached its outcome step), an offer that was given
# (not one waiting for approval or refused), and a first follow-up task: on every path
# that closes a case (the close form, the API, the guided call, a logged call).
COMING_BACK = ("won_back", "will_return")
# A call past these steps has reached its outcome: a conversation took place.
_CALL_REACHED_OUTCOME = ("outcome", "follow_up")


@dataclass(frozen=True)
class CaseFilter:
    """The manager view's filters. ``state`` "active" means open or working."""

    state: str = "active"
    status: str | None = None  # the customer's status from the scan
    tier: str | None = None
    reason: str | None = None  # text the case's reasons contain
    owner_id: int | None = None  # 0 = unassigned
    min_value: float | None = None  # expected value at least this

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> CaseFilter:
        """Build from a query string or a saved filter; blank values mean no filter."""
        known = {
            k: v for k, v in query.items() if k in cls.__dataclass_fields__ and v not in ("", None)
        }
        if "owner_id" in known:  # 0: unassigned
            owner = str(known["owner_id"]).strip()
            known["owner_id"] = 0 if owner == "0" else parse_id(owner, "owner_id", "choose a user")
        if "min_value" in known:
            # As a person writes it ("1,000", "$500"); saved filters hold a float already.
            value = known["min_value"]
            known["min_value"] = parse_number(str(value), "min_value")
            if known["min_value"] is None:
                del known["min_value"]
        state = known.get("state", "active")
        if state not in CASE_STATE_CHOICES:
            raise InvalidInput(
                f"state {state!r}: use one of {', '.join(CASE_STATE_CHOICES)}", field="state"
            )
        return cls(**known)

    def as_query(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Opening(Protocol):
    """What :func:`opened_audit` reads of a case: a Case, or winback sync's row of one."""

    @property
    def customer_id(self) -> str: ...

    @property
    def owner_id(self) -> int | None: ...


def opened_audit(case: Opening, assigned_because: str, **more: Any) -> dict[str, Any]:
    """What the ``case.open`` audit entry records of a new case, however it was opened
    (winback sync, a public complaint, a call in): its customer, state, owner and why that
    owner, then what the opener adds (the scan's priority, the post, the reason)."""
    return {
        "customer_id": case.customer_id,
        "state": "open",
        "owner_id": case.owner_id,
        "assigned_because": assigned_because,
        **more,
    }


def filtered(query: Select[Any], f: CaseFilter) -> Select[Any]:
    """``query`` (of cases) narrowed to the filter's cases."""
    if f.state == "active":
        query = query.where(Case.state != "closed")
    elif f.state != "all":
        query = query.where(Case.state == f.state)
    if f.status:
        query = query.where(Case.customer_status == f.status)
    if f.tier:
        query = query.where(Case.tier == f.tier)
    if f.reason:
        needle = f.reason.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Case.reasons_text.like(f"%{needle}%", escape="\\"))
    if f.owner_id == 0:
        query = query.where(Case.owner_id.is_(None))
    elif f.owner_id is not None:
        query = query.where(Case.owner_id == f.owner_id)
    if f.min_value is not None:
        query = query.where(Case.expected_value >= f.min_value)
    return query


def _page(query: Select[Any], page: int, size: int) -> Select[Any]:
    size = max(1, min(size, 200))
    # Urgent cases (a public complaint) first, then the scan's priority.
    order = (Case.urgent.desc(), Case.priority, Case.id)
    return query.order_by(*order).limit(size + 1).offset(max(0, page - 1) * size)


@dataclass
class Page:
    cases: list[Case]
    page: int
    has_next: bool


def _with_flag(query: Select[Any]) -> Select[Any]:
    """Cases with their customer's red carpet in progress (``Case.red_carpet``): one more
    query for the whole page, whatever its size."""
    return query.options(selectinload(Case.red_carpet))


def _fetch(db: Session, query: Select[Any], page: int, size: int) -> Page:
    rows = list(db.scalars(_with_flag(_page(query, page, size))))
    size = max(1, min(size, 200))
    return Page(rows[:size], max(1, page), len(rows) > size)


def my_queue(db: Session, actor: User, page: int = 1, size: int = PAGE_SIZE) -> Page:
    """The actor's open and working cases, first to call first: one indexed query, and
    one for the red-carpet flags."""
    require(actor, Action.VIEW_OWN_QUEUE)
    query = select(Case).where(Case.owner_id == actor.id, Case.state != "closed")
    return _fetch(db, query, page, size)


def search_cases(
    db: Session, actor: User, f: CaseFilter, page: int = 1, size: int = PAGE_SIZE
) -> Page:
    """Every case matching the filters, in priority order (the manager view)."""
    require(actor, Action.VIEW_ALL_CASES)
    return _fetch(db, filtered(select(Case), f), page, size)


def get_case(db: Session, actor: User, case_id: int) -> Case:
    require(actor, Action.VIEW_CUSTOMER)
    case = db.get(Case, case_id, options=[selectinload(Case.red_carpet)])
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def locked_case(db: Session, case_id: int) -> Case:
    """The case read afresh under a write lock held to the commit (the row on PostgreSQL,
    the database on SQLite): of parallel writers that check the case, one goes at a time
    and each sees what the one before wrote."""
    write_lock(db)
    case = db.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def cases_of_customer(
    db: Session, actor: User, customer_id: str, *, related: bool = True
) -> list[Case]:
    """The customer's cases, newest first; ``related`` False leaves their red-carpet flag
    and urgent post unloaded (the caller sets them from its own reads)."""
    require(actor, Action.VIEW_CUSTOMER)
    query = select(Case).where(Case.customer_id == customer_id).order_by(Case.id.desc())
    if not related:
        return list(db.scalars(query.options(lazyload(Case.red_carpet), lazyload(Case.post))))
    return list(db.scalars(_with_flag(query)))


def activities(db: Session, case_ids: list[int]) -> list[CaseActivity]:
    if not case_ids:
        return []
    query = select(CaseActivity).where(CaseActivity.case_id.in_(case_ids))
    return list(db.scalars(query.order_by(CaseActivity.id)))


def reassign(db: Session, actor: User, case_id: int, owner_id: int | None) -> Case:
    """Give a case to someone else (or nobody). Managers and admins only."""
    require(actor, Action.REASSIGN_CASE)
    case = get_case(db, actor, case_id)
    if case.state == "closed":
        raise Conflict(f"case {case_id} is closed")
    tasks.check_holder(db, owner_id, "cases")
    before = {"owner_id": case.owner_id}
    case.owner_id, case.updated_at = owner_id, utcnow()
    audit.record(db, actor, "case.reassign", "case", case.id, before, {"owner_id": owner_id})
    db.commit()
    return case


# One bulk reassign moves at most this many cases (a page of the list at its largest).
BULK_LIMIT = 200


def reassign_many(
    db: Session, actor: User, case_ids: list[int], owner_id: int | None
) -> list[Case]:
    """Give several cases to one person (or nobody), all or none: if any case is unknown
    or closed, nothing moves. Each case that changes hands is audited on its own; a case
    already with ``owner_id`` is left alone, so sending the same request twice moves
    nothing the second time. Returns the cases that changed hands."""
    require(actor, Action.REASSIGN_CASE)
    ids = sorted(set(case_ids))
    if not ids:
        raise InvalidInput("case_ids: tick the cases to reassign", field="case_ids")
    if len(ids) > BULK_LIMIT:
        raise InvalidInput(
            f"case_ids: {len(ids)} cases; reassign at most {BULK_LIMIT} at once", field="case_ids"
        )
    tasks.check_holder(db, owner_id, "cases")
    write_lock(db)
    query = select(Case).where(Case.id.in_(ids)).order_by(Case.id).with_for_update()
    found = list(db.scalars(query.execution_options(populate_existing=True)))
    missing = sorted(set(ids) - {c.id for c in found})
    if missing:
        raise InvalidInput(
            f"case_ids: no case {', '.join(map(str, missing))}; nothing was reassigned",
            field="case_ids",
        )
    closed = [c.id for c in found if c.state == "closed"]
    if closed:
        raise Conflict(
            f"case {', '.join(map(str, closed))} is closed; nothing was reassigned "
            "(untick the closed cases and try again)"
        )
    moved = [c for c in found if c.owner_id != owner_id]
    now = utcnow()
    for case in moved:
        before = {"owner_id": case.owner_id}
        case.owner_id, case.updated_at = owner_id, now
        after = {"owner_id": owner_id, "bulk": len(ids)}
        audit.record(db, actor, "case.reassign", "case", case.id, before, after)
    db.commit()
    return moved


def log_activity(
    db: Session, actor: User, case_id: int, *, kind: str, channel: str | None, text: str
) -> CaseActivity:
    """Record a contact with the customer (the case becomes "working") or a note."""
    case = get_case(db, actor, case_id)
    require_case_work(actor, case)
    if case.state == "closed":
        raise Conflict(f"case {case_id} is closed")
    if kind not in ACTIVITY_KINDS:
        raise InvalidInput(f"kind {kind!r}: use one of {', '.join(ACTIVITY_KINDS)}")
    if kind == "contact" and channel not in CONTACT_CHANNELS:
        raise InvalidInput(f"channel {channel!r}: use one of {', '.join(CONTACT_CHANNELS)}")
    if kind == "contact":
        refuse_if_blocked(db, case.customer_id, "logging a contact")
    activity = CaseActivity(
        case_id=case.id,
        user_id=actor.id,
        kind=kind,
        channel=channel if kind == "contact" else None,
        text=text.strip()[:5000],
    )
    db.add(activity)
    before = {"state": case.state, "contacted": case.contacted}
    if kind == "contact":
        case.contacted, case.state = True, "working"
    case.updated_at = utcnow()
    db.flush()
    after = {"state": case.state, "contacted": case.contacted, "activity": activity.id}
    audit.record(db, actor, f"case.{kind}", "case", case.id, before, after)
    db.commit()
    return activity


def has_conversation(db: Session, case_id: int) -> bool:
    """Whether the case has a contact on record: a logged contact, or a guided (or logged)
    call that reached its outcome step."""
    contact = db.scalar(
        select(CaseActivity.id)
        .where(CaseActivity.case_id == case_id, CaseActivity.kind == "contact")
        .limit(1)
    )
    if contact is not None:
        return True
    call = db.scalar(
        select(Call.id)
        .where(Call.case_id == case_id, Call.step.in_(_CALL_REACHED_OUTCOME))
        .limit(1)
    )
    return call is not None


def _offers_not_given(db: Session, case_id: int) -> str | None:
    """Why the case's offers stand in the way of a win-back, or None: a concession request
    still waiting for a decision, or a call's offer that was refused or withdrawn."""
    waiting = db.scalar(
        select(Concession.id)
        .where(Concession.case_id == case_id, Concession.state == "pending")
        .order_by(Concession.id)
        .limit(1)
    )
    if waiting is not None:
        return (
            f"concession request {waiting} is still waiting for a decision: close once it is "
            "approved (or countered), or offer what your limit allows"
        )
    offered = db.execute(
        select(Call.id, Concession.id, Concession.state)
        .join(Concession, Concession.id == Call.offer_concession_id)
        .where(Call.case_id == case_id, Concession.state.not_in(("granted", "countered")))
        .order_by(Call.id)
        .limit(1)
    ).first()
    if offered is not None:
        call_id, concession_id, state = offered
        return (
            f"the offer of call {call_id} (concession request {concession_id}) was {state}: "
            "answer the call's offer step again with an offer that is granted"
        )
    return None


def open_follow_up(db: Session, case_id: int) -> int | None:
    """The case's open follow-up task, if any."""
    query = select(Task.id).where(
        Task.case_id == case_id, Task.kind == "follow_up", Task.done_at.is_(None)
    )
    return db.scalar(query.order_by(Task.id).limit(1))


def check_close(
    db: Session,
    case: Case,
    outcome: str,
    *,
    follow_up_on: date | None = None,
    follow_up_needed: bool = True,
) -> None:
    """Refuse a close the rules forbid (InvalidInput naming the field), writing nothing.

    ``follow_up_needed`` False skips the follow-up rule (the guided call checks the rest at
    its outcome step and schedules the follow-up at the next one)."""
    if case.state == "closed":
        raise Conflict(f"case {case.id} is closed already ({case.outcome})")
    outcome = outcome.strip()
    if not outcome:
        raise InvalidInput(
            f"outcome: choose what came of the case (one of {', '.join(PERSON_OUTCOMES)})"
        )
    if outcome not in PERSON_OUTCOMES:
        raise InvalidInput(f"outcome {outcome!r}: use one of {', '.join(PERSON_OUTCOMES)}")
    if outcome not in COMING_BACK:
        return
    said = outcome.replace("_", " ")
    if not has_conversation(db, case.id):
        raise InvalidInput(
            f"outcome {said!r}: nobody has recorded talking to the customer on case "
            f"{case.id}. Log the contact (phone, e-mail, ...) or walk the guided call to its "
            f"outcome first; a case closes as {said!r} only after a conversation"
        )
    blocking = _offers_not_given(db, case.id)
    if blocking is not None:
        raise InvalidInput(f"outcome {said!r}: {blocking}")
    if not follow_up_needed:
        return
    if follow_up_on is None:
        if open_follow_up(db, case.id) is None:
            raise InvalidInput(
                f"follow_up_on: the customer is coming back ({said}); give the date of the "
                "first follow-up, to check the problem stays solved"
            )
    elif follow_up_on < tasks.today():
        raise InvalidInput(f"follow_up_on {follow_up_on}: a follow-up cannot be in the past")


def close_case(
    db: Session,
    actor: User,
    case_id: int,
    outcome: str,
    note: str = "",
    *,
    policy: Policy,
    follow_up_on: date | None = None,
    follow_up_title: str = "",
    commit: bool = True,
) -> Case:
    """Close a case with what came of it, under the rules of :func:`check_close`. A
    win-back puts the customer on the red carpet (``policy``'s ``[red_carpet]`` section)
    in the same transaction; ``follow_up_on`` schedules the first follow-up (needed for
    :data:`COMING_BACK` outcomes unless the case has one open). ``commit`` False leaves the
    commit to the caller (the guided call closes the case and saves its step in one
    transaction). Of parallel closes exactly one wins; the others get Conflict."""
    require(actor, Action.VIEW_CUSTOMER)
    case = locked_case(db, case_id)
    require_case_work(actor, case)
    outcome = outcome.strip()
    check_close(db, case, outcome, follow_up_on=follow_up_on)
    before = {"state": case.state, "outcome": None}
    after: dict[str, Any] = {"state": "closed", "outcome": outcome}
    if outcome in COMING_BACK and follow_up_on is not None:
        task = tasks.add_task(
            db,
            actor,
            kind="follow_up",
            title=follow_up_title.strip()
            or f"Check with {case.customer_name or case.customer_id} that the problem is solved",
            customer_id=case.customer_id,
            owner_id=tasks.default_owner(db, case.owner_id, actor),
            due_on=follow_up_on,
            case_id=case.id,
        )
        after["follow_up_task"] = task.id
    case.state, case.outcome = "closed", outcome
    case.closed_at = case.updated_at = utcnow()
    if note.strip():
        db.add(CaseActivity(case_id=case.id, user_id=actor.id, kind="note", text=note.strip()))
    audit.record(db, actor, "case.close", "case", case.id, before, after)
    withdraw_pending_concessions(db, actor, case)
    if is_won_back(case):
        red_carpet.start(db, actor, case, policy.red_carpet)
    if commit:
        db.commit()
    else:
        db.flush()
    return case


def undo(db: Session, actor: User) -> None:
    """Roll the transaction back, keeping ``actor`` loaded: the error page that follows
    still names who asks, after the request's session has closed."""
    db.rollback()
    if actor in db:
        db.refresh(actor)


def withdraw_pending_concessions(db: Session, actor: User | None, case: Case) -> int:
    """A case that closes takes its undecided concession requests with it: each becomes
    "withdrawn" (audited), so nobody approves a concession for a case already over."""
    pending = db.scalars(
        select(Concession).where(Concession.case_id == case.id, Concession.state == "pending")
    ).all()
    for concession in pending:
        concession.state, concession.decided_at = "withdrawn", utcnow()
        concession.decision_note = f"the case closed ({case.outcome}) before a decision"
        audit.record(
            db,
            actor,
            "concession.withdraw",
            "concession",
            concession.id,
            {"state": "pending"},
            {"state": "withdrawn", "case_outcome": case.outcome},
            system_name="winback sync",
        )
    return len(pending)


# --- saved filters ------------------------------------------------------------------


def save_filter(db: Session, actor: User, name: str, f: CaseFilter) -> SavedFilter:
    require(actor, Action.SAVE_FILTER)
    name = name.strip()
    if not name:
        raise InvalidInput("give the filter a name")
    exists = db.scalar(
        select(SavedFilter.id).where(SavedFilter.user_id == actor.id, SavedFilter.name == name)
    )
    if exists is not None:
        raise Conflict(f"you have a filter called {name!r} already")
    saved = SavedFilter(user_id=actor.id, name=name[:100], query=f.as_query())
    db.add(saved)
    db.flush()
    audit.record(
        db,
        actor,
        "filter.create",
        "filter",
        saved.id,
        None,
        {"name": saved.name, "query": saved.query},
    )
    db.commit()
    return saved


def list_filters(db: Session, actor: User) -> list[SavedFilter]:
    require(actor, Action.SAVE_FILTER)
    query = select(SavedFilter).where(SavedFilter.user_id == actor.id).order_by(SavedFilter.name)
    return list(db.scalars(query))


def delete_filter(db: Session, actor: User, filter_id: int) -> None:
    require(actor, Action.SAVE_FILTER)
    saved = db.get(SavedFilter, filter_id)
    if saved is None or saved.user_id != actor.id:
        raise NotFound(f"you have no saved filter {filter_id}")
    audit.record(
        db,
        actor,
        "filter.delete",
        "filter",
        saved.id,
        {"name": saved.name, "query": saved.query},
        None,
    )
    db.delete(saved)
    db.commit()
