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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table, func, or_, select, text
from sqlalchemy.orm import Session

from winback.desk import audit, red_carpet
from winback.desk.assignment import Candidate, Chooser
from winback.desk.bulk import insert_rows, update_rows
from winback.desk.cases import opened_audit, withdraw_pending_concessions
from winback.desk.contact_rules import RULES, held_back
from winback.desk.db import indexes_made_after, roomy_cache, write_lock
from winback.desk.models import Case, Concession, SyncRecord, User, utcnow
from winback.desk.outcomes import RETURNED, ExportResult, is_won_back
from winback.desk.permissions import Action, holds_work_sql, require
from winback.desk.scan_fields import CASE_FIELDS, RUN_COLUMNS, case_fields
from winback.desk.tasks import possible_owners
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import Assignment, Policy
from winback.scan.runs import ScanRun, collector_paused

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


class _Opened(NamedTuple):
    customer_id: str
    owner_id: int | None


# What sync reads of an open case: plain rows, not ORM objects (100k of them at 1M).
_OPEN_COLUMNS = (Case.id, Case.customer_id, *(getattr(Case, f) for f in CASE_FIELDS))
_CHUNK = 500  # ids per IN (...) list


def _open_cases_now(db: Session) -> dict[str, Any]:
    """Each customer's open case, as a row of :data:`_OPEN_COLUMNS`."""
    return {
        row.customer_id: row
        for row in db.execute(select(*_OPEN_COLUMNS).where(Case.state != "closed"))
    }


def _table_to_sync(run: ScanRun, open_ids: list[str], case_tiers: Sequence[str]) -> pa.Table:
    """The run's rows sync acts on, in the run's order: those of customers with an open
    case, and those ranked in a tier that becomes a case. The others (most of a million
    customers) are never turned into Python objects, and these only :data:`PIECE` at a
    time."""
    # Typed: an empty list of tiers (no tier becomes a case) has no type of its own.
    tiers = pa.array(list(case_tiers), pa.string())
    listed = pc.field("rank").is_valid() & pc.field("tier").isin(tiers)
    # Filtered as the file is read: read whole, a run of 5.5M customers held some 2.5 GB
    # (their reasons) for the 1.2M rows sync acts on.
    held = pc.field("customer_id").isin(pa.array(open_ids, pa.string()))
    return run.customers(RUN_COLUMNS, where=listed | held)


def _rows(table: pa.Table, at: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of ``table`` at the positions ``at``, as dicts, in that order."""
    if not at:
        return []
    rows: list[dict[str, Any]] = table.take(pa.array(at, pa.int64())).to_pylist()
    return rows


#: Run rows turned into Python objects at a time, and cases inserted and audited at a time.
PIECE = 50_000


class _New(NamedTuple):
    """A run row that opens a case, held without the row itself until its piece comes."""

    at: int  # position in the table to sync
    customer_id: str
    rank: int
    tier: str


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
    the red carpet under the policy's ``[red_carpet]`` in the same transaction.

    Only the cases that change are written, in bulk: one executemany for the refreshed,
    the opened and their audit rows as tuples through :func:`winback.desk.bulk.insert_rows`
    (an executemany on SQLite, a COPY on PostgreSQL)."""
    if actor is not None:
        require(actor, Action.SYNC_CASES)
    # The cycle collector paused: a sync makes a few hundred thousand small dicts and
    # tuples (none in cycles), and each full collection would walk them all again (about
    # a sixth of a 20k-case sync's CPU).
    with collector_paused():
        return _sync_cases(db, actor, run, policy, ledger)


def _sync_cases(
    db: Session, actor: User | None, run: ScanRun, policy: Policy, ledger: Ledger | None
) -> SyncResult:
    result = SyncResult(run.info.run_id)
    _one_sync_at_a_time(db)
    with roomy_cache(db):
        _sync_in_lock(db, actor, run, policy, ledger, result)
    db.commit()
    return result


def _sync_in_lock(
    db: Session,
    actor: User | None,
    run: ScanRun,
    policy: Policy,
    ledger: Ledger | None,
    result: SyncResult,
) -> None:
    """The sync's reads and writes, with the sync lock held (the caller commits)."""
    open_cases = _open_cases_now(db)
    case_tiers = list(policy.assignment.case_tiers)
    table = _table_to_sync(run, list(open_cases), case_tiers)

    # First pass, a piece at a time: who opens a case, whose case closes (they bought
    # again), whose case may need refreshing. At 100M orders some 1.2M rows open cases:
    # held as dicts they took some 6 KB each, more than the scan itself.
    new: list[_New] = []
    returned: list[tuple[int, date]] = []
    kept: list[int] = []
    for start in range(0, table.num_rows, PIECE):
        rows = table.slice(start, PIECE).to_pylist()
        for at, row in enumerate(rows, start):
            case = open_cases.get(row["customer_id"])
            if case is None:
                if row["rank"] is not None and row["tier"] in case_tiers:
                    new.append(_New(at, row["customer_id"], row["rank"], row["tier"]))
                continue
            bought: date | None = row["last_order_date"]
            if bought is not None and (
                case.last_order_date is None or bought > case.last_order_date
            ):
                returned.append((case.id, bought))
            else:
                kept.append(at)
        del rows
    now = utcnow()
    _close_returned(db, actor, returned, policy, result, now)
    for start in range(0, len(kept), PIECE):
        _refresh(db, actor, run, _rows(table, kept[start : start + PIECE]), open_cases, result, now)

    _repair_owners(db, actor, run, ledger, policy.assignment, result, now)
    new = _hold_back(db, actor, run, new, policy, result, now)
    if new:
        _open_cases(db, actor, run, table, new, ledger, policy.assignment, result, now)
    db.add(SyncRecord(run_id=run.info.run_id, counts=result.counts()))
    db.flush()


def _refresh(
    db: Session,
    actor: User | None,
    run: ScanRun,
    rows: list[dict[str, Any]],
    open_cases: dict[str, Any],
    result: SyncResult,
    now: Any,
) -> None:
    """Refresh the open cases of ``rows`` whose fields the run changed, and audit it."""
    refreshed: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for row in rows:
        case = open_cases[row["customer_id"]]
        fields = case_fields(row)
        # Most cases are as the last run left them: the values side by side first (the
        # row holds id, customer id, then CASE_FIELDS, the order case_fields gives).
        if tuple(fields.values()) == tuple(case)[2:]:
            result.unchanged += 1
            continue
        before = {k: getattr(case, k) for k in CASE_FIELDS}
        changed_before, changed_after = audit.changes(before, fields)
        if not changed_after:
            result.unchanged += 1
            continue
        refreshed.append(
            {
                "id": case.id,
                **fields,
                "run_id": run.info.run_id,
                "updated_at": now,
                "reasons_text": "\n".join(fields["reasons"]).lower(),
            }
        )
        entries.append(
            {
                "action": "case.refresh",
                "entity": "case",
                "entity_id": case.id,
                "before": changed_before,
                "after": changed_after,
            }
        )
    if refreshed:
        update_rows(db, Case, refreshed)
        audit.record_many(db, actor, entries, SYNC_ACTOR, at=now)
        result.refreshed += len(refreshed)


def _close_returned(
    db: Session,
    actor: User | None,
    returned: list[tuple[int, date]],
    policy: Policy,
    result: SyncResult,
    now: Any,
) -> None:
    """Close as returned each (case id, the run's last order date), in order; a return
    after the desk's contact puts the customer on the red carpet.

    The cases are read locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock is held
    already) and as committed now: a case a rep closed since sync read it, or is closing
    this moment (sync waits for that commit), keeps the rep's outcome."""
    cases: dict[int, Case] = {}
    pending: set[int] = set()  # the cases with a concession awaiting a decision
    ids = sorted(case_id for case_id, _ in returned)  # locked in id order, as elsewhere
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        locked = (
            select(Case)
            .where(Case.id.in_(chunk))
            .order_by(Case.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        cases.update((c.id, c) for c in db.scalars(locked) if c.state != "closed")
        pending.update(
            db.scalars(
                select(Concession.case_id).where(
                    Concession.case_id.in_(chunk), Concession.state == "pending"
                )
            )
        )
    for case_id, bought in returned:
        case = cases.get(case_id)
        if case is None:  # closed by a rep meanwhile
            continue
        before = {
            "state": case.state,
            "outcome": case.outcome,
            "last_order_date": case.last_order_date,
        }
        case.state, case.outcome, case.closed_at, case.updated_at = "closed", RETURNED, now, now
        case.last_order_date = bought
        after = {
            "state": "closed",
            "outcome": RETURNED,
            "last_order_date": bought,
            "contacted": case.contacted,
        }
        audit.record(
            db, actor, "case.returned", "case", case.id, before, after, system_name=SYNC_ACTOR
        )
        if case.id in pending:
            withdraw_pending_concessions(db, actor, case)
        result.returned += 1
        if is_won_back(case):
            red_carpet.start(db, actor, case, policy.red_carpet, system_name=SYNC_ACTOR)
            result.won_back += 1


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
    rows: list[_New],
    policy: Policy,
    result: SyncResult,
    now: Any,
) -> list[_New]:
    """The rows the ``[contact]`` rules let through; the others counted and audited."""
    held = held_back(db, (r.customer_id for r in rows), policy.contact, now)
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
    return [r for r in rows if r.customer_id not in held]


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
    contacts, owners = reads.contact_history(ledger, ids)
    chooser = Chooser(policy, as_of, _candidates(db), _open_load(db))
    chosen: list[tuple[int | None, str]] = []
    for customer, tier in wanted:
        owner_id, why = chooser.choose(tier, contacts.get(customer, ()), owners.get(customer))
        if owner_id is not None:
            chooser.take(owner_id)
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
    stray = db.execute(
        select(Case.id, Case.customer_id, Case.tier, Case.owner_id)
        .where(
            Case.state != "closed",
            or_(Case.owner_id.is_(None), Case.owner_id.not_in(holders)),
        )
        .order_by(Case.urgent.desc(), Case.priority, Case.id)
        .with_for_update()
    ).all()
    if not stray:
        return
    chosen = _choose_owners(db, ledger, policy, run.as_of, [(c.customer_id, c.tier) for c in stray])
    moved, entries = [], []
    for case, (owner_id, why) in zip(stray, chosen, strict=True):
        if owner_id is None:
            continue
        if case.owner_id is None:
            result.assigned += 1
        else:
            result.reassigned += 1
        moved.append({"id": case.id, "owner_id": owner_id, "updated_at": now})
        entries.append(
            {
                "action": "case.reassign",
                "entity": "case",
                "entity_id": case.id,
                "before": {"owner_id": case.owner_id},
                "after": {"owner_id": owner_id, "assigned_because": why},
            }
        )
    if moved:
        update_rows(db, Case, moved)
    audit.record_many(db, actor, entries, SYNC_ACTOR)


def _open_cases(
    db: Session,
    actor: User | None,
    run: ScanRun,
    table: pa.Table,
    new: list[_New],
    ledger: Ledger | None,
    policy: Assignment,
    result: SyncResult,
    now: Any,
) -> None:
    """Open a case for each of ``new`` (rows of ``table``), highest priority first, built
    and inserted :data:`PIECE` at a time, then audited."""
    worth = reads.values_before(ledger, [r.customer_id for r in new])
    # Highest priority first, so the least-busy rule spreads the best cases evenly.
    new.sort(key=lambda r: r.rank)
    chosen = _choose_owners(db, ledger, policy, run.as_of, [(r.customer_id, r.tier) for r in new])
    # A plain executemany per piece (RETURNING row by row in order would cost a statement
    # per case on SQLite), then the new ids: the open case of each customer opened now by
    # this run is this sync's (one open case per customer; nobody else sees them before
    # the commit).
    with indexes_made_after(db, Case.__tablename__, len(new)):
        for start in range(0, len(new), PIECE):
            rows = _rows(table, [r.at for r in new[start : start + PIECE]])
            values: list[dict[str, Any]] = []
            for row, (owner_id, _why) in zip(rows, chosen[start : start + PIECE], strict=True):
                fields = case_fields(row)
                values.append(
                    {
                        "customer_id": row["customer_id"],
                        "state": "open",
                        "contacted": False,
                        "owner_id": owner_id,
                        "run_id": run.info.run_id,
                        "reasons_text": "\n".join(fields["reasons"]).lower(),
                        "value_before": worth.get(row["customer_id"], row["revenue_last_year"]),
                        "opened_at": now,
                        "updated_at": now,
                        **fields,
                    }
                )
                result.unassigned += owner_id is None
            insert_rows(db, cast(Table, Case.__table__), values)
            del rows, values
    mine = select(Case.customer_id, Case.id).where(
        Case.state != "closed", Case.run_id == run.info.run_id, Case.opened_at == now
    )
    ids_now: dict[str, int] = dict(db.execute(mine).all())
    for start in range(0, len(new), PIECE):
        piece = zip(new[start : start + PIECE], chosen[start : start + PIECE], strict=True)
        audit.record_many(
            db,
            actor,
            [
                {
                    "action": "case.open",
                    "entity": "case",
                    "entity_id": ids_now[r.customer_id],
                    "before": None,
                    # A new case's priority is its rank (case_fields).
                    "after": opened_audit(
                        _Opened(r.customer_id, owner_id), why, priority=r.rank, tier=r.tier
                    ),
                }
                for r, (owner_id, why) in piece
            ],
            SYNC_ACTOR,
            at=now,
        )
    result.opened = len(new)
