"""The customer 360: the scan's view of a customer, their cases, and one timeline of
everything that happened to them (orders, incidents, interactions, marketing, payments,
returns, and the desk's own case history).

The scan's view comes from the open case when there is one (as of the last ``winback
sync``), else from the latest scan run's file. The ledger's part of the timeline comes from
:func:`winback.ledger.reads.customer_timeline` (its cost grows with the ledger unless the
customer-sorted copy matches it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from winback.desk import audit, readable, scan_fields, scan_lookup
from winback.desk.cases import activities, cases_of_customer
from winback.desk.models import Case, PublicPost, RedCarpet, Task, User
from winback.desk.permissions import Action, require
from winback.desk.red_carpet.period import latest_for
from winback.errors import NotFound
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.ledger.timeline import TimelineReader
from winback.scan.runs import ScanRun


@dataclass(frozen=True)
class Event:
    """One line of the timeline."""

    at: datetime
    kind: str
    ref: str
    summary: str
    who: str | None = None
    detail: str | None = None
    amount: float | None = None


@dataclass
class CustomerView:
    customer_id: str
    profile: dict[str, Any] | None
    scan: dict[str, Any] | None
    cases: list[Case]
    timeline: list[Event] = field(default_factory=list)
    # What they buy, how often, for how much, what changed (scan/sweet_spot.py).
    sweet_spot: str | None = None
    # Contact details that bounced or were wrong (scan/contact.py).
    doubtful_contact: str | None = None
    # The customer's red carpet in progress, else the one that started last.
    latest_red_carpet: RedCarpet | None = None
    # The public posts matched to the customer, newest first.
    public_posts: list[PublicPost] = field(default_factory=list)
    # Desk users' and staff members' names, as the timeline wrote them.
    who: readable.People | None = None

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
    """The customer's row in the scan run (one row group of its customer-sorted copy)."""
    if run is None:
        return None
    return scan_lookup.customer_row(run, customer_id)


#: The scan columns that say what a customer buys (and an offer can fit), and whether
#: their contact details may be out of date: shown beside a case, read from the run.
SWEET_SPOT_COLUMNS = (
    "sweet_spot",
    "top_lines",
    "usual_basket",
    "stopped_line",
    "risk_driver_line",
    "doubtful_contact",
)


def sweet_spot_of(run: ScanRun | None, customer_id: str) -> dict[str, Any] | None:
    """The customer's sweet-spot columns in the scan run (only those columns are read)."""
    if run is None:
        return None
    # Older runs have fewer of the columns (none: None).
    return scan_lookup.customer_row(run, customer_id, SWEET_SPOT_COLUMNS)


def _case_events(
    db: Session, cases: list[Case], who: readable.People, money: readable.Money
) -> list[Event]:
    """The desk's part of the timeline in words: activities by their author's name, and
    each change of a case as a sentence ("assigned to Ana Diaz", "closed: won back")."""
    ids = [c.id for c in cases]
    events = [
        Event(
            a.at,
            "case",
            f"case {a.case_id}",
            a.kind + (f" by {a.channel}" if a.channel else ""),
            who.user(a.user_id) if a.user_id is not None else None,
            a.text or None,
        )
        for a in activities(db, ids)
    ]
    for entry in audit.case_history(db, ids):
        phrases = readable.change_phrases(entry.before, entry.after, who, money)
        if entry.action in ("case.contact", "case.note") and phrases == []:
            continue  # the activity's own line says it
        verb = entry.action.removeprefix("case.")
        if verb == "open":
            phrases.insert(0, "opened")
        events.append(
            Event(
                entry.at,
                "case",
                f"case {entry.entity_id}",
                "; ".join(phrases) or readable.VERBS.get(verb, verb),
                who.actor(entry.actor_name),
                None,
            )
        )
    return events


def _readable_fact(fact: Event, who: readable.People, money: readable.Money) -> Event:
    """A ledger fact with its staff member's name and its amount in the currency."""
    summary = fact.summary
    if fact.amount is not None:
        written = f"{float(fact.amount):.2f}"
        summary = summary.replace(written, money(float(fact.amount)), 1)
    return Event(
        fact.at, fact.kind, fact.ref, summary, who.staff(fact.who), fact.detail, fact.amount
    )


def require_known(
    db: Session,
    actor: User,
    customer_id: str,
    *,
    run: ScanRun | None,
    ledger: Ledger | None,
    timeline: TimelineReader | None = None,
) -> None:
    """NotFound unless the desk (a case or a task), the latest scan run or the ledger
    knows ``customer_id``: the customer page's own test, cheapest source first (two
    indexed reads, one row group of the run's customer-sorted copy, one DuckDB query)."""
    require(actor, Action.VIEW_CUSTOMER)
    for column in (Case.customer_id, Task.customer_id):
        if db.scalar(select(column).where(column == customer_id).limit(1)) is not None:
            return
    if run is not None and scan_lookup.customer_row(run, customer_id, ("customer_id",)):
        return
    if reads.customer_profile(ledger, customer_id, timeline) is not None:
        return
    raise NotFound(f"no customer {customer_id!r} in the ledger, the scan or the desk")


def customer_view(
    db: Session,
    actor: User,
    customer_id: str,
    *,
    run: ScanRun | None,
    ledger: Ledger | None,
    timeline: TimelineReader | None = None,
    money: readable.Money | None = None,
) -> CustomerView:
    """Everything about one customer, newest event first; people by name and amounts by
    ``money`` (two decimals without it)."""
    require(actor, Action.VIEW_CUSTOMER)
    cases = cases_of_customer(db, actor, customer_id, related=False)
    carpet, posts = _related(db, customer_id, cases)
    open_case = next((c for c in cases if c.state != "closed"), None)
    # An open case holds the scan's view as of the last sync: an indexed read, where the
    # scan run's Parquet file would be scanned whole (1M customers: ~0.4 s).
    scan = scan_fields.scan_row(open_case) if open_case else scan_row(run, customer_id)
    profile, facts = reads.customer_timeline(ledger, customer_id, timeline)
    if scan is None and profile is None and not cases:
        raise NotFound(f"no customer {customer_id!r} in the ledger, the scan or the desk")
    show = money or (lambda value: f"{value:,.2f}")
    who = readable.people(db, ledger, [f.who for f in facts if f.who])
    events = [_readable_fact(Event(*fact), who, show) for fact in facts]
    events += _case_events(db, cases, who, show)

    def when(e: Event) -> datetime:
        at = e.at
        return at if isinstance(at, datetime) else datetime.combine(at, datetime.min.time())

    events.sort(key=when, reverse=True)
    spot = scan if not open_case else sweet_spot_of(run, customer_id)
    spot = spot or {}
    return CustomerView(
        customer_id,
        profile,
        scan,
        cases,
        events,
        spot.get("sweet_spot"),
        spot.get("doubtful_contact"),
        carpet,
        [p for p in posts if p.customer_id == customer_id],
        who,
    )


def _related(
    db: Session, customer_id: str, cases: list[Case]
) -> tuple[RedCarpet | None, list[PublicPost]]:
    """The customer's latest red carpet and public posts, two queries for every case (the
    case list's own loads would read each twice): each case's red-carpet flag is the
    carpet in progress, and its urgent post is among the posts read (a post matched to
    another customer is read with them, by id)."""
    carpet = latest_for(db, customer_id)
    running = carpet if carpet is not None and carpet.ended_at is None else None
    post_ids = {c.post_id for c in cases if c.post_id is not None}
    matched = PublicPost.customer_id == customer_id
    query = select(PublicPost).where(
        or_(matched, PublicPost.id.in_(post_ids)) if post_ids else matched
    )
    posts = list(db.scalars(query.order_by(PublicPost.id.desc())))
    by_id = {p.id: p for p in posts}
    for case in cases:
        set_committed_value(case, "red_carpet", running)
        set_committed_value(case, "post", by_id.get(case.post_id) if case.post_id else None)
    return carpet, posts
