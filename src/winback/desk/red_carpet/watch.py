"""The red carpet watched: the ledger's new orders and interactions counted down
(:func:`absorb_ledger`, after every import and sync), and the tighter watch through each
scan run (:func:`check_run`): a slip puts a ``slip_alert`` task on the owner's queue."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk import audit, notices, tasks
from winback.desk.models import (
    AuditEntry,
    Experience,
    RedCarpet,
    Task,
    User,
    utcnow,
)
from winback.desk.permissions import Action, require
from winback.desk.red_carpet.period import (
    SYSTEM_NAME,
    _count,
    _task_owner,
    _who,
)
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import RedCarpet as Rules
from winback.scan.runs import ScanRun

_RUN_COLUMNS = [
    "customer_id",
    "status",
    "p_alive",
    "last_order_date",
    "days_since_last_order",
    "typical_interval_days",
]


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
        owner = _task_owner(db, carpet)
        task = tasks.add_task(
            db,
            actor,
            kind="slip_alert",
            title=f"Red carpet slip: {_who(carpet)}: {because}",
            customer_id=carpet.customer_id,
            owner_id=owner,
            due_on=now.date(),
            case_id=carpet.case_id,
            system_name=system_name,
        )
        # The owner hears of it on the desk too (the task waits on their list).
        notices.notify(
            db,
            owner,
            "red_carpet_slip",
            f"Red-carpet customer {_who(carpet)} slipped: {because}",
            f"/customers/{quote(carpet.customer_id, safe='')}",
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


def summary(counts: dict[str, int]) -> str:
    """One line for the command line."""
    line = (
        f"red carpet: {counts['counted']:,} experience(s) counted, "
        f"{counts['ended']:,} period(s) ended"
    )
    return line + (f", {counts['slipped']:,} slip(s) alerted" if counts["slipped"] else "")
