"""``winback sync``: turn the latest scan run into cases.

One open case per customer on the list (tiers in the policy's ``[assignment] case_tiers``):
created the first time, refreshed by later runs, never duplicated (a partial unique
index backs this up). A case is closed as ``returned`` when the run shows an order after
the one the case knew of, recording whether anyone had contacted the customer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.assignment import Candidate, Contact, choose_owner
from winback.desk.cases import withdraw_pending_concessions
from winback.desk.models import Case, SyncRecord, User, utcnow
from winback.desk.outcomes import ExportResult
from winback.desk.permissions import Action, require
from winback.desk.tasks import possible_owners
from winback.ledger.contract import counted_order_sql
from winback.ledger.store import Ledger
from winback.policy import Assignment
from winback.scan.runs import ScanRun

SYNC_ACTOR = "winback sync"
UNRANKED = 2_000_000_000  # priority of a case whose customer is no longer on the ranked list

_COLUMNS = [
    "customer_id",
    "name",
    "segment",
    "status",
    "last_order_date",
    "p_alive",
    "predicted_value",
    "revenue",
    "revenue_last_year",
    "decision",
    "winback_odds",
    "expected_value",
    "tier",
    "rank",
    "reasons",
    "decision_reasons",
    "rude",
    "heavy_contact",
    "late_payer",
    "return_abuser",
    "recent_incidents",
]
# The fields a scan refreshes on an open case; a change in any of them is audited.
_SCAN_FIELDS = (
    "customer_name",
    "segment",
    "customer_status",
    "decision",
    "tier",
    "rank",
    "priority",
    "p_alive",
    "predicted_value",
    "winback_odds",
    "expected_value",
    "revenue",
    "revenue_last_year",
    "last_order_date",
    "reasons",
    "decision_reasons",
    "intangibles",
)


@dataclass
class SyncResult:
    run_id: str
    opened: int = 0
    refreshed: int = 0
    unchanged: int = 0
    returned: int = 0
    unassigned: int = 0
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
            "unassigned": self.unassigned,
        }


def _scan_fields(row: dict[str, Any]) -> dict[str, Any]:
    reasons = list(row["reasons"] or [])
    return {
        "customer_name": row["name"],
        "segment": row["segment"],
        "customer_status": row["status"],
        "decision": row["decision"],
        "tier": row["tier"],
        "rank": row["rank"],
        "priority": row["rank"] if row["rank"] is not None else UNRANKED,
        "p_alive": row["p_alive"],
        "predicted_value": row["predicted_value"],
        "winback_odds": row["winback_odds"],
        "expected_value": row["expected_value"],
        "revenue": row["revenue"],
        "revenue_last_year": row["revenue_last_year"],
        "last_order_date": row["last_order_date"],
        "reasons": reasons,
        "decision_reasons": list(row["decision_reasons"] or []),
        "intangibles": {
            "rude": bool(row["rude"]),
            "heavy_contact": bool(row["heavy_contact"]),
            "late_payer": bool(row["late_payer"]),
            "return_abuser": bool(row["return_abuser"]),
            "recent_incidents": int(row["recent_incidents"] or 0),
        },
    }


def contact_history(
    ledger: Ledger | None, customer_ids: list[str]
) -> tuple[dict[str, list[Contact]], dict[str, str]]:
    """Who dealt with each customer (interactions and orders) and each account's owner.

    Runs two DuckDB queries over the ledger's Parquet snapshot; never blocks on an import.
    """
    if ledger is None or not customer_ids:
        return {}, {}
    import pyarrow as pa

    con = ledger.connect()
    try:
        con.register("wanted", pa.table({"customer_id": pa.array(customer_ids, pa.string())}))
        rows = con.sql(
            """
            WITH touch AS (
                SELECT customer_id, staff_id, CAST(occurred_at AS DATE) AS day
                FROM interactions WHERE staff_id IS NOT NULL
                UNION ALL
                SELECT customer_id, staff_id, order_date FROM orders WHERE staff_id IS NOT NULL
            )
            SELECT customer_id, staff_id, max(day), count(*)
            FROM touch JOIN wanted USING (customer_id)
            GROUP BY customer_id, staff_id
            """
        ).fetchall()
        owners = con.sql(
            "SELECT customer_id, owner_staff_id FROM customers JOIN wanted USING (customer_id) "
            "WHERE owner_staff_id IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    contacts: dict[str, list[Contact]] = defaultdict(list)
    for customer_id, staff_id, last, count in rows:
        contacts[customer_id].append(Contact(staff_id, last, count))
    return dict(contacts), dict(owners)


def values_before(ledger: Ledger | None, customer_ids: list[str]) -> dict[str, float]:
    """Each customer's revenue over the year up to their last order: what they were worth
    to the business before they left (completed and pending orders, as the scan counts)."""
    if ledger is None or not customer_ids or not ledger.manifest_path.exists():
        return {}
    import pyarrow as pa

    con = ledger.connect()
    try:
        con.register("wanted", pa.table({"customer_id": pa.array(customer_ids, pa.string())}))
        rows = con.sql(
            f"""
            WITH counted AS (
                SELECT customer_id, order_date, CAST(amount AS DECIMAL(18, 2)) AS amount
                FROM orders JOIN wanted USING (customer_id)
                WHERE {counted_order_sql()}
            ), last AS (
                SELECT customer_id, max(order_date) AS last_day FROM counted GROUP BY customer_id
            )
            SELECT customer_id, CAST(sum(amount) AS DOUBLE)
            FROM counted JOIN last USING (customer_id)
            WHERE order_date > last_day - INTERVAL 365 DAY
            GROUP BY customer_id
            """
        ).fetchall()
    finally:
        con.close()
    return {customer_id: float(value) for customer_id, value in rows}


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
    ledger: Ledger | None = None,
    policy: Assignment,
) -> SyncResult:
    """Open, refresh and close cases from ``run``; ``actor`` None is the command line."""
    if actor is not None:
        require(actor, Action.SYNC_CASES)
    system_name = SYNC_ACTOR
    result = SyncResult(run.info.run_id)
    rows = run.customers(_COLUMNS).to_pylist()
    open_cases = {c.customer_id: c for c in db.scalars(select(Case).where(Case.state != "closed"))}

    new_rows: list[dict[str, Any]] = []
    now = utcnow()
    for row in rows:
        case = open_cases.get(row["customer_id"])
        if case is None:
            if row["rank"] is not None and row["tier"] in policy.case_tiers:
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
                "returned",
                now,
                now,
            )
            case.last_order_date = bought
            after = {
                "state": "closed",
                "outcome": "returned",
                "last_order_date": bought,
                "contacted": case.contacted,
            }
            audit.record(
                db, actor, "case.returned", "case", case.id, before, after, system_name=system_name
            )
            withdraw_pending_concessions(db, actor, case)
            result.returned += 1
            continue
        fields = _scan_fields(row)
        before = {k: getattr(case, k) for k in _SCAN_FIELDS}
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

    if new_rows:
        _open_cases(db, actor, run, new_rows, ledger, policy, result, now)
    db.add(SyncRecord(run_id=run.info.run_id, counts=result.counts()))
    db.commit()
    return result


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
    contacts, owners = contact_history(ledger, [r["customer_id"] for r in rows])
    worth = values_before(ledger, [r["customer_id"] for r in rows])
    users = _candidates(db)
    load = _open_load(db)
    # Highest priority first, so the least-busy rule spreads the best cases evenly.
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0))
    made: list[tuple[Case, str]] = []
    for row in rows:
        owner_id, why = choose_owner(
            policy,
            tier=row["tier"],
            as_of=run.as_of,
            contacts=contacts.get(row["customer_id"], []),
            account_owner=owners.get(row["customer_id"]),
            users=users,
            load=load,
        )
        if owner_id is not None:
            load[owner_id] = load.get(owner_id, 0) + 1
        fields = _scan_fields(row)
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
                "after": {
                    "customer_id": case.customer_id,
                    "state": "open",
                    "owner_id": case.owner_id,
                    "assigned_because": why,
                    "priority": case.priority,
                    "tier": case.tier,
                },
            }
            for case, why in made
        ],
        SYNC_ACTOR,
    )
    result.opened = len(made)
