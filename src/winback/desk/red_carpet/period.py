"""A red-carpet period: started by a win-back, counted down by each experience (an order,
an interaction, a touch recorded by another system), ended at zero with appreciation
tasks for the owner. Every change is audited under entity ``red_carpet``."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.clock import naive_utc
from winback.desk import audit, tasks
from winback.desk.models import (
    EXPERIENCE_SOURCES,
    Case,
    Experience,
    RedCarpet,
    Task,
    User,
    utcnow,
)
from winback.desk.permissions import Action, may_hold_work, require
from winback.errors import Conflict, InvalidInput
from winback.policy import RedCarpet as Rules

SYSTEM_NAME = "winback red carpet"
MAX_KIND = 30
MAX_REF = 200
MAX_GESTURE = 2000
# The /red-carpet list shows periods that ended within this many days.
ENDED_SHOWN_DAYS = 90
LIST_LIMIT = 500


def active_for(db: Session, customer_id: str, *, lock: bool = False) -> RedCarpet | None:
    """The customer's red carpet in progress, if any (at most one: a partial unique index)."""
    query = select(RedCarpet).where(
        RedCarpet.customer_id == customer_id, RedCarpet.ended_at.is_(None)
    )
    if lock:
        # PostgreSQL: two experiences arriving at once count down one after the other.
        query = query.with_for_update()
    return db.scalar(query)


def latest_for(db: Session, customer_id: str) -> RedCarpet | None:
    """The customer's red carpet in progress, else the one that started last."""
    query = (
        select(RedCarpet)
        .where(RedCarpet.customer_id == customer_id)
        .order_by(RedCarpet.ended_at.is_not(None), RedCarpet.started_at.desc(), RedCarpet.id.desc())
        .limit(1)
    )
    return db.scalar(query)


def _state(carpet: RedCarpet) -> dict[str, Any]:
    return {
        "customer_id": carpet.customer_id,
        "case_id": carpet.case_id,
        "owner_id": carpet.owner_id,
        "started_at": carpet.started_at,
        "total": carpet.total,
        "remaining": carpet.remaining,
        "slipped_at": carpet.slipped_at,
    }


def start(
    db: Session, actor: User | None, case: Case, rules: Rules, *, system_name: str = SYSTEM_NAME
) -> RedCarpet:
    """Put the customer of ``case`` (just closed as won back) on the red carpet.

    Called inside :func:`~winback.desk.cases.close_case`, which has checked the actor may
    close the case, and by winback sync for a contacted customer who ordered again
    (``actor`` None, audited as ``system_name``); flushed and audited here, committed by
    the caller with the close. A customer already on the red carpet starts again from
    ``rules.experiences``.
    """
    # The case's owner, else whoever closed it if they may hold work (not an admin).
    owner_id = case.owner_id
    if owner_id is None and actor is not None and may_hold_work(actor):
        owner_id = actor.id
    now = utcnow()
    current = active_for(db, case.customer_id, lock=True)
    if current is not None:
        before = _state(current)
        current.case_id, current.owner_id, current.started_at = case.id, owner_id, now
        current.total = current.remaining = rules.experiences
        current.slipped_at = None
        current.customer_name = case.customer_name or current.customer_name
        db.expire(case, ["red_carpet"])  # the case's flag now shows the new period
        audit.record(
            db,
            actor,
            "red_carpet.restart",
            "red_carpet",
            current.id,
            before,
            _state(current),
            system_name=system_name,
        )
        return current
    carpet = RedCarpet(
        customer_id=case.customer_id,
        customer_name=case.customer_name,
        case_id=case.id,
        owner_id=owner_id,
        started_at=now,
        total=rules.experiences,
        remaining=rules.experiences,
    )
    db.add(carpet)
    db.flush()
    db.expire(case, ["red_carpet"])  # the case's flag now shows the new period
    audit.record(
        db,
        actor,
        "red_carpet.start",
        "red_carpet",
        carpet.id,
        None,
        _state(carpet),
        system_name=system_name,
    )
    return carpet


def _task_owner(db: Session, carpet: RedCarpet) -> int | None:
    """The red carpet's owner if they can hold tasks (active, not an admin), else nobody:
    the task then waits, unassigned, for a manager."""
    owner = db.get(User, carpet.owner_id) if carpet.owner_id is not None else None
    return carpet.owner_id if may_hold_work(owner) else None


def _who(carpet: RedCarpet) -> str:
    return carpet.customer_name or carpet.customer_id


def _end(
    db: Session, actor: User | None, carpet: RedCarpet, rules: Rules, system_name: str
) -> list[Task]:
    """Close the period and schedule the appreciation touches on the owner's queue."""
    carpet.ended_at = utcnow()
    owner_id = _task_owner(db, carpet)
    today = tasks.today()
    made = [
        tasks.add_task(
            db,
            actor,
            kind="appreciation",
            title=f"Thank {_who(carpet)}: their red-carpet period of {carpet.total} "
            f"experience(s) has ended ({days} day(s) on)",
            customer_id=carpet.customer_id,
            owner_id=owner_id,
            due_on=today + timedelta(days=days),
            case_id=carpet.case_id,
            system_name=system_name,
        )
        for days in sorted(set(rules.appreciation_days))
    ]
    audit.record(
        db,
        actor,
        "red_carpet.end",
        "red_carpet",
        carpet.id,
        {"ended_at": None},
        {"ended_at": carpet.ended_at, "appreciation_tasks": [t.id for t in made]},
        system_name=system_name,
    )
    return made


def _count(
    db: Session,
    actor: User | None,
    carpet: RedCarpet,
    *,
    source: str,
    kind: str,
    ref: str,
    occurred_at: datetime,
    gesture: str,
    rules: Rules,
    system_name: str,
) -> Experience:
    """Record one experience and count the period down (ending it at zero)."""
    experience = Experience(
        red_carpet_id=carpet.id,
        customer_id=carpet.customer_id,
        source=source,
        kind=kind,
        ref=ref,
        occurred_at=occurred_at,
        gesture=gesture,
        recorded_by=actor.id if actor else None,
        recorded_at=utcnow(),
    )
    db.add(experience)
    before = carpet.remaining
    carpet.remaining = max(0, carpet.remaining - 1)
    db.flush()
    audit.record(
        db,
        actor,
        "red_carpet.experience",
        "red_carpet",
        carpet.id,
        {"remaining": before},
        {
            "remaining": carpet.remaining,
            "experience": experience.id,
            "source": source,
            "kind": kind,
            "ref": ref,
            "gesture": gesture,
        },
        system_name=system_name,
    )
    if carpet.remaining == 0:
        _end(db, actor, carpet, rules, system_name)
    return experience


def _existing(db: Session, carpet: RedCarpet, source: str, ref: str) -> Experience | None:
    return db.scalar(
        select(Experience).where(
            Experience.red_carpet_id == carpet.id,
            Experience.source == source,
            Experience.ref == ref,
        )
    )


def record_experience(
    db: Session,
    actor: User,
    customer_id: str,
    *,
    kind: str,
    ref: str,
    occurred_at: datetime | None,
    gesture: str,
    source: str = "api",
    rules: Rules,
) -> tuple[Experience, bool]:
    """Count one experience of a red-carpet customer; ``True`` when newly counted.

    The same ``(source, ref)`` again returns the experience already recorded and counts
    nothing, so another system may retry safely (even after that experience ended the
    period).
    """
    require(actor, Action.RECORD_EXPERIENCE)
    if source not in EXPERIENCE_SOURCES:
        raise InvalidInput(f"source {source!r}: use one of {', '.join(EXPERIENCE_SOURCES)}")
    kind, ref, gesture = kind.strip(), ref.strip(), gesture.strip()
    if not kind:
        raise InvalidInput("say what kind of experience it was: order, interaction, visit …")
    if len(kind) > MAX_KIND:
        raise InvalidInput(f"kind {kind[:40]!r}…: at most {MAX_KIND} characters")
    if not ref:
        raise InvalidInput("give the experience a reference (your order or ticket id)")
    if len(ref) > MAX_REF:
        raise InvalidInput(f"ref: at most {MAX_REF} characters")
    if not gesture:
        raise InvalidInput(
            "say what gesture the customer was given (a red-carpet experience records it)"
        )
    carpet = active_for(db, customer_id, lock=True) or latest_for(db, customer_id)
    if carpet is not None:
        seen = _existing(db, carpet, source, ref)
        if seen is not None:
            return seen, False
    if carpet is None or carpet.ended_at is not None:
        raise Conflict(
            f"customer {customer_id!r} is not on the red carpet: only a customer whose case "
            "was closed as won back, within their red-carpet period, has experiences counted"
        )
    at = naive_utc(occurred_at) if occurred_at is not None else utcnow()
    if at.date() < carpet.started_at.date():
        raise InvalidInput(
            f"the experience happened on {at:%Y-%m-%d}, before the red carpet started "
            f"({carpet.started_at:%Y-%m-%d}); only later experiences count"
        )
    try:
        experience = _count(
            db,
            actor,
            carpet,
            source=source,
            kind=kind,
            ref=ref,
            occurred_at=at,
            gesture=gesture[:MAX_GESTURE],
            rules=rules,
            system_name=audit.SYSTEM,
        )
        db.commit()
    except IntegrityError:
        # The same experience arrived twice at once: the other request counted it.
        db.rollback()
        seen = _existing(db, carpet, source, ref)
        if seen is None:
            raise
        return seen, False
    return experience, True


def new_ref() -> str:
    """A reference for an experience recorded by hand on the desk."""
    return f"desk:{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
