"""Reasons x revenue: why customers left, weighted by what they were worth, and what the
desk won back. The numbers behind the manager's dashboard and ``winback report``.

Everything here is defined in docs/reasons-report.md; in short:

* A case is *worked* when it is closed, or open with a guided call past the diagnosis.
  Its reasons, verification, words and offer come from its latest such call.
* A case's value is ``value_before`` (else ``revenue_last_year``, else 0). A case with
  several reasons splits its value equally among them, so the reasons add up to the total;
  a case with no diagnosed call or no reasons counts under "not diagnosed".
* Outcomes are counted as :func:`winback.desk.outcomes.counted_outcome` says: a case is
  won back when a person closed it ``won_back`` or it returned after the desk contacted
  the customer; a return without contact is "returned unprompted".
* Win-back rate = won back / attempted, attempted = won back + will_return + declined +
  unreachable (returned unprompted and ``not_pursued`` were not attempts).
* A subscription cancelled with the customer's own reason (the ledger's
  ``subscriptions.cancel_reason``) is a verified reason: it diagnoses the customer's worked
  case when the case has no diagnosed reason yet, and otherwise (no worked case) counts on
  its own, worth the contract's price a year, with outcome "cancelled" (not an attempt).

The report is read with a handful of grouped queries whatever the number of cases.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.models import (
    VERIFIED,
    Call,
    Case,
    Concession,
    PublicPost,
    ReasonCode,
    User,
    utcnow,
)
from winback.desk.outcomes import RETURNED_UNPROMPTED, WON_BACK, counted_outcome_sql
from winback.desk.permissions import Action, require
from winback.insights.drivers import DriversView, drivers_view
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun

NOT_DIAGNOSED = "_not_diagnosed"
NOT_DIAGNOSED_LABEL = "not diagnosed"
NO_OFFER = "no offer"
NO_TIER = "no tier"
UNASSIGNED = "unassigned"
OPEN = "open"
CANCELLED = "cancelled"  # a cancellation the desk has no worked case for
NO_CASE = "no case"
CANCELLATION = "cancellation"  # how a cancellation's reason was confirmed: by the customer
ATTEMPTS = frozenset({WON_BACK, "will_return", "declined", "unreachable"})
# Steps a call has not yet finished the diagnosis at.
BEFORE_DIAGNOSIS = ("apology", "listening", "diagnosis")
WORDS_LIMIT = 200


@dataclass(frozen=True)
class Slice:
    """One row of a breakdown (a tier, a rep, an offer, or a reason)."""

    key: str
    label: str
    cases: int  # worked cases in the slice (for a reason: cases that gave it)
    attempted: int
    won_back: int
    returned: int  # came back unprompted (returned without contact)
    rate: float | None  # won_back / attempted; None when nothing was attempted
    value_lost: float  # value of every worked case (a reason's share of it)
    value_won_back: float  # of the cases won back
    value_returned: float  # of the cases that came back unprompted
    revenue_since: float  # ledger orders of the won-back customers since the win-back
    credit_granted: float  # concessions of kind "credit" granted on the slice's cases
    value_verified: float  # value_lost whose reasons the customer confirmed (yes/partly)
    value_unverified: float  # the rest of value_lost


@dataclass(frozen=True)
class Voice:
    """A verified reason in the customer's own words."""

    case_id: int  # 0: a cancellation with no case
    customer_id: str
    customer_name: str | None
    reasons: list[str]  # labels
    verification: str
    correction: str
    customer_words: str
    outcome: str  # the counted outcome (winback.desk.outcomes.counted_outcome), or "open"
    rep: str
    at: datetime


@dataclass(frozen=True)
class ReasonsReport:
    """The whole report: totals, four breakdowns and the customers' words."""

    generated_at: datetime
    since: date | None
    total: Slice
    by_reason: list[Slice]
    by_tier: list[Slice]
    by_rep: list[Slice]
    by_offer: list[Slice]
    voices: list[Voice]
    voices_total: int
    notes: list[str] = field(default_factory=list)
    cancellations: int = 0  # subscription cancellations counted with their own reason
    # Public complaints matched to a customer, by the reason their words suggest.
    public_complaints: list[PublicComplaints] = field(default_factory=list)
    # What drives customers away, from the latest scan (None before a scan).
    drivers: DriversView | None = None

    @property
    def title(self) -> str:
        window = f"cases since {self.since.isoformat()}" if self.since else "all cases"
        return f"Reasons × revenue, {self.generated_at.date().isoformat()} ({window})"


@dataclass(frozen=True)
class PublicComplaints:
    """Public complaints of one reason: how many, from how many customers, the revenue at
    stake (those customers' year before their last order, from the ledger) and how many
    the business answered in public."""

    key: str
    label: str
    posts: int
    customers: int
    revenue_at_stake: float
    answered: int


@dataclass
class _Worked:
    """One worked case with its latest diagnosed call, as read from the database."""

    case_id: int
    customer_id: str
    customer_name: str | None
    outcome: str
    tier: str
    owner_id: int | None
    value: float
    closed_at: datetime | None
    reasons: list[str]
    verified: bool
    offer: str
    call_at: datetime | None
    verification: str | None = None
    correction: str = ""
    customer_words: str = ""
    since_revenue: float = 0.0
    credit: float = 0.0


@dataclass
class _Sums:
    cases: float = 0
    attempted: float = 0
    won_back: float = 0
    returned: float = 0
    value_lost: float = 0.0
    value_won_back: float = 0.0
    value_returned: float = 0.0
    revenue_since: float = 0.0
    credit_granted: float = 0.0
    value_verified: float = 0.0
    value_unverified: float = 0.0

    def slice(self, key: str, label: str) -> Slice:
        return Slice(
            key=key,
            label=label,
            cases=int(self.cases),
            attempted=int(self.attempted),
            won_back=int(self.won_back),
            returned=int(self.returned),
            rate=self.won_back / self.attempted if self.attempted else None,
            value_lost=self.value_lost,
            value_won_back=self.value_won_back,
            value_returned=self.value_returned,
            revenue_since=self.revenue_since,
            credit_granted=self.credit_granted,
            value_verified=self.value_verified,
            value_unverified=self.value_unverified,
        )


_FLAGS = ("alive", "attempted", "won_back", "returned", "verified")
_BREAKDOWNS = ("total", "tier", "rep", "offer")
_EPOCH = datetime(1970, 1, 1)


def _microseconds(at: datetime | None) -> int:
    """``at`` as an integer for sorting voices; None (no call: "now") after every date."""
    if at is None:
        return np.iinfo(np.int64).max
    return (at.replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1)


def _grown(columns: dict[str, np.ndarray], kinds: dict[str, type], size: int) -> None:
    """Each column of ``kinds`` (made if missing) ``size`` long, its values kept."""
    for name, kind in kinds.items():
        grown: np.ndarray = np.zeros(size, dtype=kind)
        old = columns.get(name)
        if old is not None:
            grown[: len(old)] = old
        columns[name] = grown


class _Tally:
    """The report's rows as columns, one slot a row, patched where rows changed.

    :meth:`update` compares the rows with those of the last update (the same objects for
    rows that did not change, so mostly an identity check) and rewrites only the slots of
    the rows that differ; the sums are then NumPy ``bincount`` over the slots, and the
    newest verified voices an ``lexsort``: a rebuild's Python work grows with the rows that
    changed, not with the worked cases. A fresh tally of all rows is the full build."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, _Worked] = {}
        self._slot: dict[Hashable, int] = {}
        self._key: dict[int, Hashable] = {}  # the row key of each live slot
        self._free: list[int] = []
        self._used = 0  # slots ever used (the arrays' live prefix)
        self._names: dict[str, dict[str, int]] = {b: {} for b in (*_BREAKDOWNS, "reason")}
        self._columns: dict[str, np.ndarray] = {}
        self._grow(1024)
        # The reasons a row gives: one entry a (row, reason), with the row's share.
        self._entries: dict[str, np.ndarray] = {}
        self._entries_used = 0
        self._entries_dead = 0
        self._entries_of: dict[int, list[int]] = {}
        self._grow_entries(2048)

    def _grow(self, size: int) -> None:
        kinds: dict[str, type] = dict.fromkeys(_FLAGS, bool)
        kinds |= dict.fromkeys(("value", "since", "credit"), np.float64)
        kinds |= dict.fromkeys(("case_id", "call_at", *_BREAKDOWNS), np.int64)
        _grown(self._columns, kinds, size)

    def _grow_entries(self, size: int) -> None:
        kinds: dict[str, type] = {"alive": bool, "share": np.float64}
        kinds |= dict.fromkeys(("slot", "code"), np.int64)
        _grown(self._entries, kinds, size)

    @classmethod
    def of(cls, rows: dict[Hashable, _Worked]) -> _Tally:
        """A tally of ``rows`` alone."""
        made = cls()
        made.update(rows)
        return made

    def _code(self, breakdown: str, key: str) -> int:
        names = self._names[breakdown]
        return names.setdefault(key, len(names))

    def update(self, rows: dict[Hashable, _Worked]) -> None:
        """Make the tally hold ``rows`` (which the tally keeps: never change them after)."""
        if self._entries_dead > 4096 and self._entries_dead > self._entries_used // 2:
            fresh = _Tally()  # compact: many reasons rewritten since the last start
            fresh.update(rows)
            self.__dict__.update(fresh.__dict__)
            return
        kept = self.rows
        for key in kept.keys() - rows.keys():
            self._drop(key)
        for key, row in rows.items():
            before = kept.get(key)
            if before is not row and before != row:
                if before is not None:
                    self._drop(key)
                self._put(key, row)
        self.rows = dict(rows)

    def _drop(self, key: Hashable) -> None:
        slot = self._slot.pop(key)
        del self._key[slot]
        self._columns["alive"][slot] = False
        for entry in self._entries_of.pop(slot, []):
            self._entries["alive"][entry] = False
            self._entries_dead += 1
        self._free.append(slot)

    def _put(self, key: Hashable, w: _Worked) -> None:
        if self._free:
            slot = self._free.pop()
        else:
            if self._used == len(self._columns["alive"]):
                self._grow(2 * self._used)
            slot, self._used = self._used, self._used + 1
        self._slot[key], self._key[slot] = slot, key
        c = self._columns
        c["alive"][slot] = True
        c["attempted"][slot] = w.outcome in ATTEMPTS
        c["won_back"][slot] = w.outcome == WON_BACK
        c["returned"][slot] = w.outcome == RETURNED_UNPROMPTED
        c["verified"][slot] = w.verified
        c["value"][slot], c["since"][slot], c["credit"][slot] = w.value, w.since_revenue, w.credit
        c["case_id"][slot], c["call_at"][slot] = w.case_id, _microseconds(w.call_at)
        c["total"][slot] = self._code("total", "total")
        c["tier"][slot] = self._code("tier", w.tier)
        c["rep"][slot] = self._code("rep", str(w.owner_id) if w.owner_id else UNASSIGNED)
        c["offer"][slot] = self._code("offer", w.offer)
        codes = list(dict.fromkeys(w.reasons)) or [NOT_DIAGNOSED]
        made = []
        for code in codes:
            if self._entries_used == len(self._entries["alive"]):
                self._grow_entries(2 * self._entries_used)
            entry, self._entries_used = self._entries_used, self._entries_used + 1
            e = self._entries
            e["alive"][entry], e["slot"][entry] = True, slot
            e["code"][entry], e["share"][entry] = self._code("reason", code), 1.0 / len(codes)
            made.append(entry)
        self._entries_of[slot] = made

    def _column(self, name: str) -> np.ndarray:
        return self._columns[name][: self._used]

    def sums(self, breakdown: str) -> dict[str, _Sums]:
        """:class:`_Sums` of each key of ``breakdown`` (total, tier, rep, offer or reason)
        that has a row: a row's counts whole under each key, its money times its share."""
        names = list(self._names[breakdown])
        if breakdown == "reason":
            e = {k: v[: self._entries_used] for k, v in self._entries.items()}
            alive = np.flatnonzero(e["alive"])
            at, codes, share = e["slot"][alive], e["code"][alive], e["share"][alive]
        else:
            at = np.flatnonzero(self._column("alive"))
            codes, share = self._column(breakdown)[at], np.ones(len(at))
        value = self._column("value")[at] * share
        won, returned = self._column("won_back")[at], self._column("returned")[at]
        verified = self._column("verified")[at]

        def total(weights: np.ndarray) -> np.ndarray:
            return np.bincount(codes, weights=weights, minlength=len(names))

        columns = {
            "cases": np.bincount(codes, minlength=len(names)),
            "attempted": total(self._column("attempted")[at].astype(np.float64)),
            "won_back": total(won.astype(np.float64)),
            "returned": total(returned.astype(np.float64)),
            "value_lost": total(value),
            "value_won_back": total(np.where(won, value, 0.0)),
            "value_returned": total(np.where(returned, value, 0.0)),
            "revenue_since": total(self._column("since")[at] * share),
            "credit_granted": total(self._column("credit")[at] * share),
            "value_verified": total(np.where(verified, value, 0.0)),
            "value_unverified": total(np.where(verified, 0.0, value)),
        }
        return {
            name: _Sums(**{k: float(v[i]) for k, v in columns.items()})
            for i, name in enumerate(names)
            if columns["cases"][i]
        }

    def valueless(self) -> int:
        """Rows whose value is 0."""
        return int(np.count_nonzero(self._column("alive") & (self._column("value") == 0)))

    def newest_verified(self, limit: int) -> tuple[list[_Worked], int]:
        """The ``limit`` verified rows of the newest calls (no call: now; ties: the higher
        case id, then the earlier row), and how many rows are verified."""
        at = np.flatnonzero(self._column("alive") & self._column("verified"))
        order = np.lexsort((at, -self._column("case_id")[at], -self._column("call_at")[at]))
        return [self.rows[self._key[int(s)]] for s in at[order[:limit]]], len(at)


def build_report(
    db: Session,
    actor: User | None,
    ledger: Ledger | None,
    *,
    since: date | None = None,
    run: ScanRun | None = None,
    cache: WorkedCache | None = None,
) -> ReasonsReport:
    """The reasons x revenue report over the worked cases (those closed on or after
    ``since``, and open ones whose diagnosed call was last saved on or after it).

    ``actor`` None is the command line; a user needs VIEW_REPORTS. ``ledger`` None (or a
    ledger with nothing imported) leaves the revenue since the win-back at 0, with a note.
    ``run`` is the scan whose risk drivers the report shows (none without it). ``cache``
    (the app's) re-reads only the cases changed since its last read, and re-sums only the
    rows that changed since its last report.
    """
    if actor is not None:
        require(actor, Action.VIEW_REPORTS)
    labels = dict(db.execute(select(ReasonCode.code, ReasonCode.label)).all())
    reps = dict(db.execute(select(User.id, User.name)).all())
    if cache is None:
        worked = {w.case_id: w for w in _worked_cases(db, since)}
        rows, notes, said, cancellations = _report_rows(db, ledger, worked, since, labels)
        return _report(
            db, ledger, since, run, _Tally.of(rows), notes, labels | said, reps, cancellations
        )
    with cache.building:  # the kept tally is patched in place: one build at a time
        worked = cache.rows(db, since)
        rows, notes, said, cancellations = _report_rows(db, ledger, worked, since, labels)
        tally = cache.tally(since)
        tally.update(rows)
        return _report(db, ledger, since, run, tally, notes, labels | said, reps, cancellations)


def _report(
    db: Session,
    ledger: Ledger | None,
    since: date | None,
    run: ScanRun | None,
    tally: _Tally,
    notes: list[str],
    labels: dict[str, str],
    reps: dict[int, str],
    cancellations: int,
) -> ReasonsReport:
    """The report from the tally of its rows."""
    valueless = tally.valueless()
    if valueless:
        notes.append(
            f"{valueless:,} case(s) have no value before they left "
            "(no value_before and no revenue last year) and count as 0"
        )

    def label_of(code: str) -> str:
        return NOT_DIAGNOSED_LABEL if code == NOT_DIAGNOSED else labels.get(code, code)

    def rep_of(key: str) -> str:
        return reps.get(int(key), f"user {key}") if key != UNASSIGNED else UNASSIGNED

    total = tally.sums("total").get("total", _Sums())
    reasons = _ranked(s.slice(code, label_of(code)) for code, s in tally.sums("reason").items())
    # "not diagnosed" last: it is what the desk has still to learn, not a reason.
    reasons.sort(key=lambda s: s.key == NOT_DIAGNOSED)
    # The newest verified calls only: Voice rows are built for what is shown.
    now = utcnow()
    newest, verified = tally.newest_verified(WORDS_LIMIT)
    voices = [
        Voice(
            case_id=w.case_id,
            customer_id=w.customer_id,
            customer_name=w.customer_name,
            reasons=[label_of(c) for c in w.reasons],
            verification=w.verification or "",
            correction=w.correction,
            customer_words=w.customer_words,
            outcome=w.outcome,
            rep=reps.get(w.owner_id, UNASSIGNED) if w.owner_id else UNASSIGNED,
            at=w.call_at or now,
        )
        for w in newest
    ]
    return ReasonsReport(
        generated_at=utcnow(),
        since=since,
        total=total.slice("total", "all worked cases"),
        by_reason=reasons,
        by_tier=_ranked(s.slice(k, k) for k, s in tally.sums("tier").items()),
        by_rep=_ranked(s.slice(k, rep_of(k)) for k, s in tally.sums("rep").items()),
        by_offer=_ranked(s.slice(k, k.replace("_", " ")) for k, s in tally.sums("offer").items()),
        voices=voices,
        voices_total=verified,
        notes=notes,
        cancellations=cancellations,
        public_complaints=_public_complaints(db, ledger, since, label_of),
        drivers=drivers_view(run),
    )


def _report_rows(
    db: Session,
    ledger: Ledger | None,
    worked: dict[int, _Worked],
    since: date | None,
    labels: dict[str, str],
) -> tuple[dict[Hashable, _Worked], list[str], dict[str, str], int]:
    """The report's rows: the worked cases (by case id; left as they are) with their
    granted credit, revenue since the win-back and a cancellation's reason (copies of the
    cases these change), and the cancellations with no worked case; the notes, the labels
    of reasons outside the taxonomy and how many cancellations were counted."""
    credit = _credit(db, worked)
    notes, revenue = _revenue_since(ledger, worked)
    said, counted, diagnosed, alone = _cancellations(ledger, worked, since, labels)
    rows: dict[Hashable, _Worked] = dict(worked.items())
    for case_id in credit.keys() | revenue.keys() | diagnosed.keys():
        w = _copy(worked[case_id])
        w.credit = credit.get(case_id, w.credit)
        w.since_revenue = revenue.get(case_id, w.since_revenue)
        if case_id in diagnosed:
            code, c = diagnosed[case_id]
            at = datetime(c.ended_on.year, c.ended_on.month, c.ended_on.day)
            w.reasons, w.verified = [code], True
            w.verification, w.customer_words = CANCELLATION, c.reason
            w.call_at = w.call_at or at
        rows[case_id] = w
    for n, w in enumerate(alone):
        rows[(CANCELLED, n)] = w
    return rows, notes, said, counted


def _public_complaints(
    db: Session, ledger: Ledger | None, since: date | None, label_of: Callable[[str], str]
) -> list[PublicComplaints]:
    """Matched public complaints (received on or after ``since``) by suggested reason,
    the biggest revenue at stake first: one desk query and one ledger read."""
    query = select(PublicPost.reason, PublicPost.customer_id, PublicPost.reply).where(
        PublicPost.kind == "complaint", PublicPost.customer_id.is_not(None)
    )
    if since is not None:
        query = query.where(PublicPost.received_at >= datetime(since.year, since.month, since.day))
    rows = db.execute(query).all()
    worth = reads.values_before(ledger, sorted({str(r[1]) for r in rows}))
    grouped: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for reason, customer_id, reply in rows:
        grouped[reason or NOT_DIAGNOSED].append((str(customer_id), reply is not None))
    out = []
    for code, posts in grouped.items():
        customers = {c for c, _ in posts}
        out.append(
            PublicComplaints(
                key=code,
                label=label_of(code) if code != NOT_DIAGNOSED else "no reason suggested",
                posts=len(posts),
                customers=len(customers),
                revenue_at_stake=sum(worth.get(c, 0.0) for c in customers),
                answered=sum(answered for _, answered in posts),
            )
        )
    return sorted(out, key=lambda p: (-p.revenue_at_stake, -p.posts, p.label))


def _ranked(slices: Iterable[Slice]) -> list[Slice]:
    """Biggest revenue at stake first; ties by label so the order is stable."""
    return sorted(slices, key=lambda s: (-s.value_lost, s.label))


def _worked_cases(
    db: Session, since: date | None, only: Collection[int] | None = None
) -> list[_Worked]:
    """Every worked case (of ``only``, when given) joined to its latest diagnosed call:
    two queries."""
    diagnosed = or_(Call.step.not_in(BEFORE_DIAGNOSIS), Call.finished_at.is_not(None))
    ranked = (
        select(
            Call.case_id,
            Call.reasons,
            Call.verification,
            Call.correction,
            Call.customer_words,
            Call.offer_kind,
            Call.updated_at,
            func.row_number()
            .over(partition_by=Call.case_id, order_by=(Call.started_at.desc(), Call.id.desc()))
            .label("n"),
        )
        .where(diagnosed, *([Call.case_id.in_(only)] if only is not None else []))
        .subquery()
    )
    call = select(ranked).where(ranked.c.n == 1).subquery()
    columns = select(
        Case.id,
        Case.customer_id,
        Case.customer_name,
        Case.state,
        counted_outcome_sql(),
        Case.tier,
        Case.owner_id,
        Case.value_before,
        Case.revenue_last_year,
        Case.closed_at,
        call.c.case_id,
        call.c.reasons,
        call.c.verification,
        call.c.correction,
        call.c.customer_words,
        call.c.offer_kind,
        call.c.updated_at,
    )
    # Two reads, each led by an index, rather than one that reads every case: the closed
    # cases (with their latest diagnosed call, if any), and the open cases that have one.
    closed = columns.outerjoin(call, call.c.case_id == Case.id).where(Case.state == "closed")
    diagnosed_open = columns.join(call, call.c.case_id == Case.id).where(Case.state != "closed")
    if since is not None:
        start = datetime(since.year, since.month, since.day)
        closed = closed.where(Case.closed_at >= start)
        diagnosed_open = diagnosed_open.where(call.c.updated_at >= start)
    if only is not None:
        closed = closed.where(Case.id.in_(only))
        diagnosed_open = diagnosed_open.where(Case.id.in_(only))
    # Plain rows through the connection: the ORM's row machinery is not needed here and
    # costs more than the query at 10,000s of worked cases.
    connection = db.connection()
    rows = sorted(
        [*connection.execute(closed).all(), *connection.execute(diagnosed_open).all()],
        key=lambda r: r[0],
    )
    worked = []
    for row in rows:
        (case_id, customer_id, name, state, outcome, tier, owner_id, before, last_year) = row[:9]
        closed_at, call_case, reasons, verification, correction, words, offer, call_at = row[9:]
        has_call = call_case is not None
        worked.append(
            _Worked(
                case_id=case_id,
                customer_id=customer_id,
                customer_name=name,
                outcome=(outcome or "closed") if state == "closed" else OPEN,
                tier=tier or NO_TIER,
                owner_id=owner_id,
                value=float(before if before is not None else last_year or 0.0),
                closed_at=closed_at,
                reasons=[str(r) for r in (reasons or [])] if has_call else [],
                verified=has_call and verification in VERIFIED and bool(reasons),
                offer=offer if offer and offer != "none" else NO_OFFER,
                call_at=call_at,
                verification=verification,
                correction=correction or "",
                customer_words=words or "",
            )
        )
    return worked


# Audit entities whose entries name a case whose worked row may have changed: the case
# itself, or the call or concession on it.
CASE_ENTITIES = ("case", "call", "concession")
# Entities whose changes leave every worked row as it was (what they change the report
# reads afresh each time: names, labels, public posts).
UNRELATED_ENTITIES = frozenset(
    {"task", "token", "filter", "address", "post", "reason", "user", "source", "red_carpet"}
)


class WorkedCache:
    """The worked cases as last read, per ``since``, brought up to date by re-reading
    only the cases the audit log names as changed since; the whole set again when an entry
    of another kind appears (the desk writes every change with its audit row, in the same
    transaction: docs/reasons-report.md). With them, the tally of the last report's rows
    per ``since``, which a report patches where its rows changed. Safe across threads:
    reports are built one at a time (:attr:`building`)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self.building = threading.Lock()
        self._kept: OrderedDict[date | None, _Held] = OrderedDict()
        self._tallies: dict[date | None, _Tally] = {}

    def read(self, db: Session, since: date | None) -> list[_Worked]:
        """The worked cases as the desk is now, in case id order (copies: the caller may
        change them)."""
        rows = self.rows(db, since)
        return [_copy(rows[i]) for i in sorted(rows)]

    def rows(self, db: Session, since: date | None) -> dict[int, _Worked]:
        """The worked cases as the desk is now, by case id: the cache's own rows (a row
        that did not change is the same object as at the last read). Never change them."""
        with self._lock:
            held = self._kept.get(since)
        fresh, seen = audit.entries_since(db, held.seen if held else None)
        rows = None
        if held is not None and held.seen.complete:
            rows = _brought_up_to_date(db, since, held.rows, fresh)
        if rows is None:
            rows = {w.case_id: w for w in _worked_cases(db, since)}
        with self._lock:
            self._kept[since] = _Held(seen, rows)
            self._kept.move_to_end(since)
            while len(self._kept) > self.keep:
                dropped, _ = self._kept.popitem(last=False)
                self._tallies.pop(dropped, None)
        return rows

    def tally(self, since: date | None) -> _Tally:
        """The tally kept for ``since`` (patch it only while holding :attr:`building`)."""
        with self._lock:
            return self._tallies.setdefault(since, _Tally())


def _copy(w: _Worked) -> _Worked:
    """A shallow copy of ``w`` (the report fills in a copy's credit, revenue and reasons),
    without :func:`copy.copy`'s general machinery."""
    made = object.__new__(_Worked)
    made.__dict__.update(w.__dict__)
    return made


@dataclass(frozen=True)
class _Held:
    seen: audit.Seen  # how far the audit log was read when the rows were
    rows: dict[int, _Worked]


def _brought_up_to_date(
    db: Session, since: date | None, kept: dict[int, _Worked], entries: list[tuple[str, str]]
) -> dict[int, _Worked] | None:
    """``kept`` with the cases named by the audit ``entries`` (entity, id) read again;
    None when an entry may have changed what no case id names (read everything)."""
    named: dict[str, set[int]] = {entity: set() for entity in CASE_ENTITIES}
    for entity, entity_id in entries:
        if entity in UNRELATED_ENTITIES:
            continue
        if entity not in named or not str(entity_id).isdigit():
            return None
        named[entity].add(int(entity_id))
    changed = set(named["case"])
    if named["call"]:
        changed |= set(db.scalars(select(Call.case_id).where(Call.id.in_(named["call"]))))
    if named["concession"]:
        changed |= set(
            db.scalars(select(Concession.case_id).where(Concession.id.in_(named["concession"])))
        )
    if not changed:
        return kept
    rows = {i: w for i, w in kept.items() if i not in changed}
    rows.update({w.case_id: w for w in _worked_cases(db, since, only=sorted(changed))})
    return rows


def _credit(db: Session, worked: dict[int, _Worked]) -> dict[int, float]:
    """Credit given per worked case (concessions of kind credit, granted or countered: a
    counter gives its smaller amount), where it differs from the row's: one query."""
    if not worked:
        return {}
    rows = db.execute(
        select(Concession.case_id, func.sum(Concession.granted))
        .where(Concession.state.in_(("granted", "countered")), Concession.kind == "credit")
        .group_by(Concession.case_id)
    )
    given = {case_id: float(granted or 0.0) for case_id, granted in rows if case_id in worked}
    return {
        case_id: amount for case_id, amount in given.items() if amount != worked[case_id].credit
    }


def _reason_code(words: str, labels: dict[str, str]) -> str:
    """The taxonomy's code for a cancellation's words when they name one (its code or its
    label, any case); else a code of their own, labelled with the words."""
    wanted = words.strip().casefold()
    for code, label in labels.items():
        if wanted in (code.casefold(), code.replace("_", " ").casefold(), label.casefold()):
            return code
    return f"said:{wanted}"


def _cancellations(
    ledger: Ledger | None, worked: dict[int, _Worked], since: date | None, labels: dict[str, str]
) -> tuple[dict[str, str], int, dict[int, tuple[str, reads.Cancellation]], list[_Worked]]:
    """Each subscription cancelled on or after ``since`` with the customer's reason: the
    reason of their worked case when that has none diagnosed, else an entry of its own
    (one ledger read). Returns the labels of reasons outside the taxonomy, how many
    cancellations were counted, the cases they diagnose (case id: reason code and the
    cancellation) and the cancellations' own rows."""
    ended = reads.cancellations(ledger, since)
    if not ended:
        return {}, 0, {}, []
    cases: dict[str, _Worked] = {}
    for w in worked.values():  # the newest worked case of each customer
        if w.customer_id not in cases or w.case_id > cases[w.customer_id].case_id:
            cases[w.customer_id] = w
    said: dict[str, str] = {}
    diagnosed: dict[int, tuple[str, reads.Cancellation]] = {}
    alone: list[_Worked] = []
    seen: set[str] = set()
    for c in reversed(ended):  # newest first
        code = _reason_code(c.reason, labels)
        if code not in labels:
            said[code] = c.reason
        case = cases.get(c.customer_id)
        if case is not None:
            # A case speaks once: for the customer's newest cancellation, and only when no
            # call has diagnosed it (a rep's diagnosis stands).
            if c.customer_id in seen or case.reasons:
                continue
            seen.add(c.customer_id)
            diagnosed[case.case_id] = (code, c)
            continue
        alone.append(
            _Worked(
                case_id=0,
                customer_id=c.customer_id,
                customer_name=c.customer_name,
                outcome=CANCELLED,
                tier=NO_CASE,
                owner_id=None,
                value=c.yearly_value,
                closed_at=None,
                reasons=[code],
                verified=True,
                offer=NO_OFFER,
                call_at=datetime(c.ended_on.year, c.ended_on.month, c.ended_on.day),
                verification=CANCELLATION,
                customer_words=c.reason,
            )
        )
    return said, len(diagnosed) + len(alone), diagnosed, alone


def _revenue_since(
    ledger: Ledger | None, worked: dict[int, _Worked]
) -> tuple[list[str], dict[int, float]]:
    """Each won-back case's ledger orders from its closing day on (until the same
    customer's next win-back, so no order counts twice), where it differs from the row's:
    one ledger read. Returns the notes and the amounts by case id."""
    if ledger is None or not ledger.manifest_path.exists():
        return ["no ledger: the revenue since the win-back is not counted (0)"], {}
    won = sorted(
        (w for w in worked.values() if w.outcome == WON_BACK and w.closed_at is not None),
        key=lambda w: (w.customer_id, w.closed_at or datetime.min, w.case_id),
    )
    if not won:
        return [], {}
    until: list[date | None] = []
    for i, w in enumerate(won):
        after = won[i + 1] if i + 1 < len(won) else None
        same = after is not None and after.customer_id == w.customer_id
        until.append(after.closed_at.date() if same and after and after.closed_at else None)
    windows = [
        reads.RevenueWindow(w.case_id, w.customer_id, w.closed_at.date(), end)
        for w, end in zip(won, until, strict=True)
        if w.closed_at is not None
    ]
    amounts = {
        case_id: float(amount or 0.0)
        for case_id, amount in reads.revenue_in_windows(ledger, windows).items()
    }
    return [], {i: a for i, a in amounts.items() if a != worked[i].since_revenue}
