"""The customer 360: the scan's view of a customer, their cases, and one timeline of
everything that happened to them (orders, incidents, interactions, marketing, payments,
returns, and the desk's own case history).

The scan's view comes from the open case when there is one (as of the last ``winback
sync``), else from the latest scan run's file. The timeline runs DuckDB queries over the
ledger's Parquet snapshot: it scans the files, so its cost grows with the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from winback.desk import audit, scan_fields
from winback.desk.cases import activities, cases_of_customer
from winback.desk.models import Case, RedCarpet, User
from winback.desk.permissions import Action, require
from winback.errors import NotFound
from winback.ledger.store import Ledger
from winback.ledger.timeline import TimelineReader
from winback.scan.runs import ScanRun

TIMELINE_LIMIT = 200  # per kind: the newest events of each kind

# kind, SQL (one parameter: the customer id), and how to summarise a row.
_LEDGER_EVENTS: tuple[tuple[str, str], ...] = (
    (
        "order",
        "SELECT CAST(order_date AS TIMESTAMP), order_id, "
        "format('order {} for {:.2f}', order_id, amount), staff_id, status "
        "FROM orders WHERE customer_id = $1 ORDER BY order_date DESC LIMIT {limit}",
    ),
    (
        "incident",
        "SELECT CAST(occurred_on AS TIMESTAMP), incident_id, "
        "format('{} (severity {}){}', type, coalesce(CAST(severity AS VARCHAR), '?'), "
        "CASE WHEN resolved_on IS NULL THEN ', unresolved' ELSE ', resolved' END), "
        "NULL, description FROM incidents WHERE customer_id = $1 "
        "ORDER BY occurred_on DESC LIMIT {limit}",
    ),
    (
        "interaction",
        "SELECT occurred_at, interaction_id, "
        "format('{} {}{}', coalesce(direction, ''), channel, "
        "CASE WHEN customer_rude THEN ' (customer rude to staff)' ELSE '' END), "
        "staff_id, subject FROM interactions WHERE customer_id = $1 "
        "ORDER BY occurred_at DESC LIMIT {limit}",
    ),
    (
        "marketing",
        "SELECT occurred_at, campaign_id, format('{} {}', event, campaign_id), NULL, channel "
        "FROM marketing_events WHERE customer_id = $1 ORDER BY occurred_at DESC LIMIT {limit}",
    ),
    (
        "payment",
        "SELECT CAST(issued_on AS TIMESTAMP), invoice_id, "
        "format('invoice {} for {:.2f}, due {}, {}', invoice_id, amount, due_on, "
        "CASE WHEN paid_on IS NULL THEN 'unpaid' "
        "WHEN paid_on > due_on THEN format('paid late on {}', paid_on) "
        "ELSE format('paid on {}', paid_on) END), NULL, NULL "
        "FROM invoices WHERE customer_id = $1 ORDER BY issued_on DESC LIMIT {limit}",
    ),
    (
        "return",
        "SELECT CAST(returned_on AS TIMESTAMP), return_id, "
        "format('return {} of {:.2f}', return_id, amount), NULL, reason "
        "FROM returns WHERE customer_id = $1 ORDER BY returned_on DESC LIMIT {limit}",
    ),
)


@dataclass(frozen=True)
class Event:
    """One line of the timeline."""

    at: datetime
    kind: str
    ref: str
    summary: str
    who: str | None = None
    detail: str | None = None


@dataclass
class CustomerView:
    customer_id: str
    profile: dict[str, Any] | None
    scan: dict[str, Any] | None
    cases: list[Case]
    timeline: list[Event] = field(default_factory=list)

    @property
    def open_case(self) -> Case | None:
        return next((c for c in self.cases if c.state != "closed"), None)

    @property
    def red_carpet(self) -> RedCarpet | None:
        """The customer's red carpet in progress, carried by their cases (a red carpet
        always starts from one)."""
        return next((c.red_carpet for c in self.cases), None)

    @property
    def name(self) -> str:
        for source in (self.profile, self.scan):
            if source and source.get("name"):
                return str(source["name"])
        return self.customer_id


def scan_row(run: ScanRun | None, customer_id: str) -> dict[str, Any] | None:
    """The customer's row in the scan run (reads the run's Parquet file with a filter)."""
    if run is None:
        return None
    import pyarrow.dataset as ds

    table = ds.dataset(run.path / "customers.parquet").to_table(
        filter=ds.field("customer_id") == customer_id
    )
    rows = table.to_pylist()
    return rows[0] if rows else None


def _ledger_part(
    ledger: Ledger, customer_id: str, timeline: TimelineReader | None
) -> tuple[dict[str, Any] | None, list[Event]]:
    """The customer's profile and ledger events. Runs seven DuckDB queries over Parquet:
    the customer-ordered copy when it matches the ledger, else the ledger itself."""
    cursor = timeline.cursor(ledger) if timeline else None
    con = cursor if cursor is not None else ledger.connect()
    try:
        cursor = con.execute("SELECT * FROM customers WHERE customer_id = $1", [customer_id])
        names = [d[0] for d in cursor.description or []]
        found = cursor.fetchone()
        profile = dict(zip(names, found, strict=True)) if found else None
        events = []
        for kind, sql in _LEDGER_EVENTS:
            for at, ref, summary, who, detail in con.execute(
                sql.replace("{limit}", str(TIMELINE_LIMIT)), [customer_id]
            ).fetchall():
                events.append(Event(at, kind, str(ref), summary, who, detail))
    finally:
        con.close()
    return profile, events


def _case_events(db: Session, cases: list[Case]) -> list[Event]:
    ids = [c.id for c in cases]
    names: dict[int | None, str | None] = {None: None}

    def name_of(user_id: int | None) -> str | None:
        if user_id not in names:
            user = db.get(User, user_id)
            names[user_id] = user.username if user else f"user {user_id}"
        return names[user_id]

    events = [
        Event(
            a.at,
            "case",
            f"case {a.case_id}",
            a.kind + (f" by {a.channel}" if a.channel else ""),
            name_of(a.user_id),
            a.text or None,
        )
        for a in activities(db, ids)
    ]
    for entry in audit.case_history(db, ids):
        before = entry.before or {}
        change = ", ".join(
            f"{k}: {before[k]} → {v}" if k in before else f"{k}: {v}"
            for k, v in (entry.after or {}).items()
            if k != "activity"
        )
        events.append(
            Event(
                entry.at,
                "case",
                f"case {entry.entity_id}",
                entry.action.removeprefix("case."),
                entry.actor_name,
                change,
            )
        )
    return events


def customer_view(
    db: Session,
    actor: User,
    customer_id: str,
    *,
    run: ScanRun | None,
    ledger: Ledger | None,
    timeline: TimelineReader | None = None,
) -> CustomerView:
    """Everything about one customer, newest event first."""
    require(actor, Action.VIEW_CUSTOMER)
    cases = cases_of_customer(db, actor, customer_id)
    open_case = next((c for c in cases if c.state != "closed"), None)
    # An open case holds the scan's view as of the last sync: an indexed read, where the
    # scan run's Parquet file would be scanned whole (1M customers: ~0.4 s).
    scan = scan_fields.scan_row(open_case) if open_case else scan_row(run, customer_id)
    profile: dict[str, Any] | None = None
    events: list[Event] = []
    if ledger is not None and ledger.manifest_path.exists():
        profile, events = _ledger_part(ledger, customer_id, timeline)
    if scan is None and profile is None and not cases:
        raise NotFound(f"no customer {customer_id!r} in the ledger, the scan or the desk")
    events += _case_events(db, cases)

    def when(e: Event) -> datetime:
        at = e.at
        return at if isinstance(at, datetime) else datetime.combine(at, datetime.min.time())

    events.sort(key=when, reverse=True)
    return CustomerView(customer_id, profile, scan, cases, events)
