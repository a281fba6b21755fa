"""The red carpet: a won-back customer's next experiences, watched and counted down.

A case won back (:func:`winback.desk.outcomes.is_won_back`: closed as ``won_back``, or
returned after contact) starts a period of ``[red_carpet] experiences`` experiences
(:func:`start`, called by :func:`winback.desk.cases.close_case` and winback sync). Each
later order or interaction counts one down and records the gesture given, whether it
arrives by import (:func:`absorb_ledger`) or from another system through the API
(:func:`record_experience`). At zero the period ends and appreciation touches go on the
owner's task queue. During the period the customer is watched more tightly than the scan
watches everyone (:func:`check_run`), and an incident is a slip too: a slip puts a
``slip_alert`` task on the owner's queue at once.

Every change is audited under entity ``red_carpet`` in the same transaction.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.clock import naive_utc
from winback.desk import audit, tasks
from winback.desk.models import (
    EXPERIENCE_SOURCES,
    AuditEntry,
    Case,
    Experience,
    RedCarpet,
    Task,
    User,
    utcnow,
)
from winback.desk.permissions import Action, may_hold_work, require
from winback.errors import Conflict, InvalidInput
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import RedCarpet as Rules
from winback.scan.runs import ScanRun

SYSTEM_NAME = "winback red carpet"
MAX_KIND = 30
MAX_REF = 200
MAX_GESTURE = 2000
# The /red-carpet list shows periods that ended within this many days.
ENDED_SHOWN_DAYS = 90
LIST_LIMIT = 500
_RUN_COLUMNS = [
    "customer_id",
    "status",
    "p_alive",
    "last_order_date",
    "days_since_last_order",
    "typical_interval_days",
]


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


# --- imports ------------------------------------------------------------------------


def _active(db: Session, *, lock: bool = False) -> list[RedCarpet]:
    query = select(RedCarpet).where(RedCarpet.ended_at.is_(None)).order_by(RedCarpet.id)
    if lock:
        query = query.with_for_update()
    return list(db.scalars(query))


def _slips_seen(db: Session, carpet_ids: list[int]) -> dict[int, set[str]]:
    """What each red carpet has already slipped for ("run:<id>", "incident:<id>"), from
    the audit log, so a run or an incident read again never alerts twice."""
    if not carpet_ids:
        return {}
    rows = db.execute(
        select(AuditEntry.entity_id, AuditEntry.after).where(
            AuditEntry.entity == "red_carpet",
            AuditEntry.action == "red_carpet.slip",
            AuditEntry.entity_id.in_([str(i) for i in carpet_ids]),
        )
    ).all()
    seen: dict[int, set[str]] = defaultdict(set)
    for entity_id, after in rows:
        seen[int(entity_id)].add(str((after or {}).get("key")))
    return seen


def _slip(
    db: Session,
    actor: User | None,
    carpet: RedCarpet,
    *,
    key: str,
    because: str,
    system_name: str,
) -> Task | None:
    """Record a slip and alert the owner with a ``slip_alert`` task due today, unless one
    for this customer is still open."""
    before = {"slipped_at": carpet.slipped_at}
    now = utcnow()
    if carpet.slipped_at is None:
        carpet.slipped_at = now
    open_alert = db.scalar(
        select(Task.id).where(
            Task.customer_id == carpet.customer_id,
            Task.kind == "slip_alert",
            Task.done_at.is_(None),
        )
    )
    task = None
    if open_alert is None:
        task = tasks.add_task(
            db,
            actor,
            kind="slip_alert",
            title=f"Red carpet slip: {_who(carpet)}: {because}",
            customer_id=carpet.customer_id,
            owner_id=_task_owner(db, carpet),
            due_on=now.date(),
            case_id=carpet.case_id,
            system_name=system_name,
        )
    audit.record(
        db,
        actor,
        "red_carpet.slip",
        "red_carpet",
        carpet.id,
        before,
        {
            "slipped_at": carpet.slipped_at,
            "key": key,
            "because": because,
            "task": task.id if task else open_alert,
        },
        system_name=system_name,
    )
    return task


@dataclass
class AbsorbResult:
    """What one pass over the ledger did."""

    counted: int = 0
    ended: int = 0
    slipped: int = 0
    watched: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "counted": self.counted,
            "ended": self.ended,
            "slipped": self.slipped,
            "watched": self.watched,
        }


def absorb_ledger(
    db: Session, ledger: Ledger | None, rules: Rules, *, actor: User | None = None
) -> dict[str, int]:
    """Count down every red carpet with the orders and interactions the ledger holds since
    it started (``order:<id>`` / ``interaction:<id>``, source ``import``), oldest first,
    with the policy's gesture for each kind; an incident during the period is a slip when
    ``rules.incident_slips``. What was counted before is skipped, so running it again
    counts nothing twice. Only counted orders count (the contract's rule: not cancelled
    or refunded). Commits.

    Returns the counts: experiences ``counted``, periods ``ended``, ``slipped`` (incidents)
    and the periods ``watched`` (in progress before the pass).
    """
    result = AbsorbResult()
    if ledger is None or not ledger.manifest_path.exists():
        return result.counts()
    carpets = _active(db, lock=True)
    result.watched = len(carpets)
    if not carpets:
        return result.counts()
    rows = reads.happenings_since(
        ledger, [(c.customer_id, c.started_at) for c in carpets], incidents=rules.incident_slips
    )
    by_customer = {c.customer_id: c for c in carpets}
    ids = [c.id for c in carpets]
    counted = {
        (carpet_id, ref)
        for carpet_id, ref in db.execute(
            select(Experience.red_carpet_id, Experience.ref).where(
                Experience.red_carpet_id.in_(ids), Experience.source == "import"
            )
        )
    }
    slips = _slips_seen(db, ids)
    gestures = {"order": rules.order_gesture, "interaction": rules.interaction_gesture}
    system_name = SYSTEM_NAME
    for customer_id, kind, ref, at, detail in rows:
        carpet = by_customer[customer_id]
        if carpet.ended_at is not None:
            continue
        if kind == "incident":
            if ref in slips[carpet.id]:
                continue
            slips[carpet.id].add(ref)
            what = f"incident {ref.removeprefix('incident:')} ({detail}) on {at:%Y-%m-%d}"
            _slip(db, actor, carpet, key=ref, because=what, system_name=system_name)
            result.slipped += 1
            continue
        if (carpet.id, ref) in counted:
            continue
        _count(
            db,
            actor,
            carpet,
            source="import",
            kind=kind,
            ref=ref,
            occurred_at=at,
            gesture=gestures[kind],
            rules=rules,
            system_name=system_name,
        )
        counted.add((carpet.id, ref))
        result.counted += 1
        result.ended += carpet.ended_at is not None
    db.commit()
    return result.counts()


# --- the tighter watch ----------------------------------------------------------------


def slip_reason(row: dict[str, Any], carpet: RedCarpet, as_of: date, rules: Rules) -> str | None:
    """Why the scan row shows the red-carpet customer slipping, or None.

    Tighter than the scan: the customer slips when no order came within
    ``rules.cycle_multiple`` times their typical interval (counted from their last order,
    or from the start of the period if they have not ordered since), and, once they have
    ordered since the win-back, when the scan no longer calls them active or their P(alive)
    is below ``rules.p_alive_slipping``. Before that first order the scan's status and
    P(alive) still describe the customer as lost, which is why the period began.
    """
    start = carpet.started_at.date()
    last: date | None = row.get("last_order_date")
    ordered_since = last is not None and last >= start
    typical = row.get("typical_interval_days")
    if typical is not None and typical > 0:
        quiet_since = last if ordered_since and last is not None else start
        quiet = (as_of - quiet_since).days
        if quiet > rules.cycle_multiple * typical:
            return (
                f"no order for {quiet} days, more than {rules.cycle_multiple:g} × "
                f"their usual {typical:.0f}"
            )
    if not ordered_since:
        return None
    if row.get("status") != "active":
        return f"the scan of {as_of} calls them {row.get('status')}"
    p_alive = row.get("p_alive")
    if p_alive is not None and p_alive < rules.p_alive_slipping:
        return f"P(alive) {p_alive:.2f} is below {rules.p_alive_slipping:g}"
    return None


def check_run(db: Session, run: ScanRun, rules: Rules, *, actor: User | None = None) -> int:
    """Watch every red-carpet customer through ``run`` (tighter than the scan's own rules,
    see :func:`slip_reason`); each new slip alerts the owner. A run that predates a period
    says nothing about it; a run read again never alerts twice. Returns the slips
    recorded. Commits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    carpets = _active(db, lock=True)
    if not carpets:
        return 0
    table = run.customers(_RUN_COLUMNS)
    wanted = pa.array([c.customer_id for c in carpets], pa.string())
    rows = {
        r["customer_id"]: r
        for r in table.filter(pc.is_in(table["customer_id"], wanted)).to_pylist()
    }
    slips = _slips_seen(db, [c.id for c in carpets])
    key = f"run:{run.info.run_id}"
    recorded = 0
    for carpet in carpets:
        row = rows.get(carpet.customer_id)
        if row is None or run.as_of < carpet.started_at.date() or key in slips[carpet.id]:
            continue
        because = slip_reason(row, carpet, run.as_of, rules)
        if because is None:
            continue
        _slip(db, actor, carpet, key=key, because=because, system_name=SYSTEM_NAME)
        recorded += 1
    db.commit()
    return recorded


def refresh(
    db: Session, actor: User, ledger: Ledger | None, run: ScanRun | None, rules: Rules
) -> dict[str, int]:
    """Count what the ledger holds and watch through the latest run (managers, admins);
    the counts of :func:`absorb_ledger`, with the run's slips added to ``slipped``."""
    require(actor, Action.SYNC_CASES)
    counts = absorb_ledger(db, ledger, rules, actor=actor)
    if run is not None:
        counts["slipped"] += check_run(db, run, rules, actor=actor)
    return counts


# --- reading ----------------------------------------------------------------------------


def flags_for(db: Session, customer_ids: list[str]) -> dict[str, RedCarpet]:
    """The red carpets in progress of these customers, by customer id (one query)."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return {}
    query = select(RedCarpet).where(RedCarpet.ended_at.is_(None), RedCarpet.customer_id.in_(wanted))
    return {c.customer_id: c for c in db.scalars(query)}


@dataclass(frozen=True)
class ListRow:
    """One line of the red-carpet list."""

    carpet: RedCarpet
    owner_name: str | None
    experiences: int
    last_gesture: str | None
    last_at: datetime | None

    @property
    def active(self) -> bool:
        return self.carpet.ended_at is None


def red_carpet_list(
    db: Session, actor: User, *, ended_days: int = ENDED_SHOWN_DAYS
) -> list[ListRow]:
    """Everyone on the red carpet (newest first), then the periods that ended within
    ``ended_days`` days, with each one's experiences and last gesture. Three queries."""
    require(actor, Action.VIEW_RED_CARPET)
    cutoff = utcnow() - timedelta(days=ended_days)
    carpets = list(
        db.scalars(
            select(RedCarpet)
            .where(RedCarpet.ended_at.is_(None) | (RedCarpet.ended_at >= cutoff))
            .order_by(
                RedCarpet.ended_at.is_not(None), RedCarpet.started_at.desc(), RedCarpet.id.desc()
            )
            .limit(LIST_LIMIT)
        )
    )
    ids = [c.id for c in carpets]
    stats: dict[int, tuple[int, int]] = {}
    last: dict[int, tuple[str, datetime]] = {}
    if ids:
        stats = {
            rid: (int(n), int(newest))
            for rid, n, newest in db.execute(
                select(Experience.red_carpet_id, func.count(), func.max(Experience.id))
                .where(Experience.red_carpet_id.in_(ids))
                .group_by(Experience.red_carpet_id)
            )
        }
        newest_ids = [newest for _, newest in stats.values()]
        if newest_ids:
            last = {
                rid: (gesture, at)
                for rid, gesture, at in db.execute(
                    select(
                        Experience.red_carpet_id, Experience.gesture, Experience.occurred_at
                    ).where(Experience.id.in_(newest_ids))
                )
            }
    owner_ids = {c.owner_id for c in carpets if c.owner_id is not None}
    names = (
        {u.id: u.name for u in db.scalars(select(User).where(User.id.in_(owner_ids)))}
        if owner_ids
        else {}
    )
    return [
        ListRow(
            carpet=c,
            owner_name=names.get(c.owner_id) if c.owner_id is not None else None,
            experiences=stats.get(c.id, (0, 0))[0],
            last_gesture=last.get(c.id, (None, None))[0],
            last_at=last.get(c.id, (None, None))[1],
        )
        for c in carpets
    ]


def experiences_of(db: Session, carpet_id: int) -> list[Experience]:
    """A period's experiences, newest first."""
    query = select(Experience).where(Experience.red_carpet_id == carpet_id)
    return list(db.scalars(query.order_by(Experience.occurred_at.desc(), Experience.id.desc())))


@dataclass(frozen=True)
class CustomerRedCarpet:
    """What the customer page shows: the period in progress (or the last one) and its
    experiences."""

    carpet: RedCarpet
    owner_name: str | None
    experiences: list[Experience]

    @property
    def active(self) -> bool:
        return self.carpet.ended_at is None


def of_customer(db: Session, actor: User, customer_id: str) -> CustomerRedCarpet | None:
    require(actor, Action.VIEW_RED_CARPET)
    carpet = latest_for(db, customer_id)
    if carpet is None:
        return None
    owner = db.get(User, carpet.owner_id) if carpet.owner_id is not None else None
    return CustomerRedCarpet(carpet, owner.name if owner else None, experiences_of(db, carpet.id))


def summary(counts: dict[str, int]) -> str:
    """One line for the command line."""
    line = (
        f"red carpet: {counts['counted']:,} experience(s) counted, "
        f"{counts['ended']:,} period(s) ended"
    )
    return line + (f", {counts['slipped']:,} slip(s) alerted" if counts["slipped"] else "")
