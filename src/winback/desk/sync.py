"""``winback sync``: turn the latest scan run into cases.

One open case per customer on the list (tiers in the policy's ``[assignment] case_tiers``):
created the first time, refreshed by later runs, never duplicated (a partial unique
index backs this up). A case is closed as ``returned`` when the run shows an order after
the one the case knew of, recording whether anyone had contacted the customer: a return
after contact is won back (:mod:`winback.desk.outcomes`) and starts the red carpet. The
scan-row -> case field map is :mod:`winback.desk.scan_fields`.

The policy's ``[contact]`` rules hold customers back: no new case for a customer who is
do-not-contact, on the red carpet, just won back, or just declined or unreachable
(:mod:`winback.desk.contact_rules`); the result counts each rule. Sync also repairs
ownership: an open case with nobody, or with a user who may no longer hold work
(deactivated, or now an admin), goes to whoever the ``[assignment]`` rules choose among
the users who hold work, audited as ``case.reassign``. Two syncs at once take turns (the
database's write lock on SQLite, an advisory lock on PostgreSQL), so the second finds the
first's work done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from winback.desk import audit, red_carpet
from winback.desk.assignment import Candidate, Contact, choose_owner
from winback.desk.cases import opened_audit, withdraw_pending_concessions
from winback.desk.contact_rules import RULES, held_back
from winback.desk.db import write_lock
from winback.desk.models import Case, SyncRecord, User, utcnow
from winback.desk.outcomes import RETURNED, ExportResult, is_won_back
from winback.desk.permissions import Action, holds_work_sql, require
from winback.desk.scan_fields import CASE_FIELDS, RUN_COLUMNS, case_fields
from winback.desk.tasks import possible_owners
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import Assignment, Policy
from winback.scan.runs import ScanRun

SYNC_ACTOR = "winback sync"
# Any 64-bit number no other part of winback uses: the advisory lock one sync holds on
# PostgreSQL until it commits ("winbsync").
_PG_SYNC_LOCK = 0x77696E6273796E63


@dataclass
class SyncResult:
    run_id: str
    opened: int = 0
    refreshed: int = 0
    unchanged: int = 0
    returned: int = 0  # closed as returned, the won-back ones among them
    won_back: int = 0  # returned after the desk's contact: on the red carpet now
    unassigned: int = 0
    # Open cases that had nobody and now have an owner; those moved off a user who may no
    # longer hold work (deactivated, or no longer in a role that works cases).
    assigned: int = 0
    reassigned: int = 0
    # Customers on the list that got no new case, by the contact rule that held them back
    # (winback.desk.contact_rules.RULES).
    held_back: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    # Closed cases sent to the ledger's winback_outcomes afterwards (winback sync fills it).
    outcomes: ExportResult | None = None
    # What the red-carpet pass after the sync counted (winback sync fills it).
    red_carpet: dict[str, int] | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "refreshed": self.refreshed,
            "unchanged": self.unchanged,
            "returned": self.returned,
            "won_back": self.won_back,
            "unassigned": self.unassigned,
            "assigned": self.assigned,
            "reassigned": self.reassigned,
            **{f"held_{rule}": count for rule, count in self.held_back.items()},
        }


def _candidates(db: Session) -> list[Candidate]:
    return [Candidate(u.id, u.role, u.staff_id) for u in possible_owners(db)]


def _open_load(db: Session) -> dict[int, int]:
    rows = db.execute(
        select(Case.owner_id, func.count())
        .where(Case.state != "closed", Case.owner_id.is_not(None))
        .group_by(Case.owner_id)
    ).all()
    return {owner: int(count) for owner, count in rows if owner is not None}


def sync_cases(
    db: Session,
    actor: User | None,
    run: ScanRun,
    *,
    policy: Policy,
    ledger: Ledger | None = None,
) -> SyncResult:
    """Open, refresh and close cases from ``run`` under ``policy`` (its ``[assignment]``
    decides which tiers become cases and who gets them); ``actor`` None is the command
    line. A case that returns after the desk's contact is won back: its customer goes on
    the red carpet under the policy's ``[red_carpet]`` in the same transaction."""
    if actor is not None:
        require(actor, Action.SYNC_CASES)
    system_name = SYNC_ACTOR
    result = SyncResult(run.info.run_id)
    rows = run.customers(RUN_COLUMNS).to_pylist()
    _one_sync_at_a_time(db)
    open_cases = {c.customer_id: c for c in db.scalars(select(Case).where(Case.state != "closed"))}

    new_rows: list[dict[str, Any]] = []
    now = utcnow()
    for row in rows:
        case = open_cases.get(row["customer_id"])
        if case is None:
            if row["rank"] is not None and row["tier"] in policy.assignment.case_tiers:
                new_rows.append(row)
            continue
        bought: date | None = row["last_order_date"]
        if bought is not None and (case.last_order_date is None or bought > case.last_order_date):
            before = {
                "state": case.state,
                "outcome": case.outcome,
                "last_order_date": case.last_order_date,
            }
            case.state, case.outcome, case.closed_at, case.updated_at = (
                "closed",
                RETURNED,
                now,
                now,
            )
            case.last_order_date = bought
            after = {
                "state": "closed",
                "outcome": RETURNED,
                "last_order_date": bought,
                "contacted": case.contacted,
            }
            audit.record(
                db, actor, "case.returned", "case", case.id, before, after, system_name=system_name
            )
            withdraw_pending_concessions(db, actor, case)
            result.returned += 1
            if is_won_back(case):
                red_carpet.start(db, actor, case, policy.red_carpet, system_name=system_name)
                result.won_back += 1
            continue
        fields = case_fields(row)
        before = {k: getattr(case, k) for k in CASE_FIELDS}
        changed_before, changed_after = audit.changes(before, fields)
        if not changed_after:
            result.unchanged += 1
            continue
        for key, value in fields.items():
            setattr(case, key, value)
        case.run_id, case.updated_at = run.info.run_id, now
        case.reasons_text = "\n".join(fields["reasons"]).lower()
        audit.record(
            db,
            actor,
            "case.refresh",
            "case",
            case.id,
            changed_before,
            changed_after,
            system_name=system_name,
        )
        result.refreshed += 1

    _repair_owners(db, actor, run, ledger, policy.assignment, result, now)
    new_rows = _hold_back(db, actor, run, new_rows, policy, result, now)
    if new_rows:
        _open_cases(db, actor, run, new_rows, ledger, policy.assignment, result, now)
    db.add(SyncRecord(run_id=run.info.run_id, counts=result.counts()))
    db.commit()
    return result


def _one_sync_at_a_time(db: Session) -> None:
    """Wait for any other sync to commit before reading the cases (held to the commit)."""
    if db.connection().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SYNC_LOCK})
    else:
        write_lock(db)


def _hold_back(
    db: Session,
    actor: User | None,
    run: ScanRun,
    rows: list[dict[str, Any]],
    policy: Policy,
    result: SyncResult,
    now: Any,
) -> list[dict[str, Any]]:
    """The rows the ``[contact]`` rules let through; the others counted and audited."""
    held = held_back(db, (r["customer_id"] for r in rows), policy.contact, now)
    if not held:
        return rows
    for rule in held.values():
        result.held_back[rule] += 1
    audit.record(
        db,
        actor,
        "sync.held_back",
        "scan_run",
        run.info.run_id,
        None,
        {"held_back": {k: v for k, v in result.held_back.items() if v}},
        system_name=SYNC_ACTOR,
    )
    return [r for r in rows if r["customer_id"] not in held]


def _choose_owners(
    db: Session,
    ledger: Ledger | None,
    policy: Assignment,
    as_of: date,
    wanted: list[tuple[str, str | None]],
) -> list[tuple[int | None, str]]:
    """An owner and the reason for each (customer id, tier) in ``wanted``, in order: the
    least-busy rule counts each choice before the next."""
    ids = [customer for customer, _ in wanted]
    history, owners = reads.contact_history(ledger, ids)
    contacts = {
        customer: [Contact(t.staff_id, t.last, t.count) for t in touches]
        for customer, touches in history.items()
    }
    users = _candidates(db)
    load = _open_load(db)
    chosen: list[tuple[int | None, str]] = []
    for customer, tier in wanted:
        owner_id, why = choose_owner(
            policy,
            tier=tier,
            as_of=as_of,
            contacts=contacts.get(customer, []),
            account_owner=owners.get(customer),
            users=users,
            load=load,
        )
        if owner_id is not None:
            load[owner_id] = load.get(owner_id, 0) + 1
        chosen.append((owner_id, why))
    return chosen


def _repair_owners(
    db: Session,
    actor: User | None,
    run: ScanRun,
    ledger: Ledger | None,
    policy: Assignment,
    result: SyncResult,
    now: Any,
) -> None:
    """Give each open case without a work-holding owner to one, when anyone holds work."""
    if not db.scalar(select(func.count()).select_from(User).where(holds_work_sql())):
        return
    holders = select(User.id).where(holds_work_sql())
    stray = list(
        db.scalars(
            select(Case)
            .where(
                Case.state != "closed",
                or_(Case.owner_id.is_(None), Case.owner_id.not_in(holders)),
            )
            .order_by(Case.urgent.desc(), Case.priority, Case.id)
            .with_for_update()
        )
    )
    if not stray:
        return
    chosen = _choose_owners(db, ledger, policy, run.as_of, [(c.customer_id, c.tier) for c in stray])
    entries = []
    for case, (owner_id, why) in zip(stray, chosen, strict=True):
        if owner_id is None:
            continue
        before = case.owner_id
        case.owner_id, case.updated_at = owner_id, now
        if before is None:
            result.assigned += 1
        else:
            result.reassigned += 1
        entries.append(
            {
                "action": "case.reassign",
                "entity": "case",
                "entity_id": case.id,
                "before": {"owner_id": before},
                "after": {"owner_id": owner_id, "assigned_because": why},
            }
        )
    db.flush()
    audit.record_many(db, actor, entries, SYNC_ACTOR)


def _open_cases(
    db: Session,
    actor: User | None,
    run: ScanRun,
    rows: list[dict[str, Any]],
    ledger: Ledger | None,
    policy: Assignment,
    result: SyncResult,
    now: Any,
) -> None:
    ids = [r["customer_id"] for r in rows]
    worth = reads.values_before(ledger, ids)
    # Highest priority first, so the least-busy rule spreads the best cases evenly.
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0))
    chosen = _choose_owners(
        db, ledger, policy, run.as_of, [(r["customer_id"], r["tier"]) for r in rows]
    )
    made: list[tuple[Case, str]] = []
    for row, (owner_id, why) in zip(rows, chosen, strict=True):
        fields = case_fields(row)
        case = Case(
            customer_id=row["customer_id"],
            state="open",
            contacted=False,
            owner_id=owner_id,
            run_id=run.info.run_id,
            reasons_text="\n".join(fields["reasons"]).lower(),
            value_before=worth.get(row["customer_id"], row["revenue_last_year"]),
            opened_at=now,
            updated_at=now,
            **fields,
        )
        db.add(case)
        made.append((case, why))
        result.unassigned += owner_id is None
    db.flush()
    audit.record_many(
        db,
        actor,
        [
            {
                "action": "case.open",
                "entity": "case",
                "entity_id": case.id,
                "before": None,
                "after": opened_audit(case, why, priority=case.priority, tier=case.tier),
            }
            for case, why in made
        ],
        SYNC_ACTOR,
    )
    result.opened = len(made)
