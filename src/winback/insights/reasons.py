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
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from winback.desk.models import (
    VERIFIED,
    AuditEntry,
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


@dataclass(frozen=True)
class _Measures:
    """The worked cases' figures as arrays, one element a case, for summing by slice."""

    attempted: np.ndarray
    won_back: np.ndarray
    returned: np.ndarray
    value: np.ndarray
    since: np.ndarray
    credit: np.ndarray
    verified: np.ndarray

    @classmethod
    def of(cls, worked: list[_Worked]) -> _Measures:
        def flags(test: Callable[[_Worked], bool]) -> np.ndarray:
            return np.fromiter((test(w) for w in worked), dtype=bool, count=len(worked))

        def money(of: Callable[[_Worked], float]) -> np.ndarray:
            return np.fromiter((of(w) for w in worked), dtype=np.float64, count=len(worked))

        return cls(
            attempted=flags(lambda w: w.outcome in ATTEMPTS),
            won_back=flags(lambda w: w.outcome == WON_BACK),
            returned=flags(lambda w: w.outcome == RETURNED_UNPROMPTED),
            value=money(lambda w: w.value),
            since=money(lambda w: w.since_revenue),
            credit=money(lambda w: w.credit),
            verified=flags(lambda w: w.verified),
        )


def _sums_by(
    m: _Measures, keys: list[str], rows: list[int], shares: list[float] | None = None
) -> dict[str, _Sums]:
    """:class:`_Sums` of each key: row ``rows[i]`` counted once under ``keys[i]``, with
    ``shares[i]`` of its money (1 when None): its counts whole, its value, revenue since
    and credit times the share; summed in a handful of array operations instead of one
    Python call per case and slice."""
    if not keys:
        return {}
    number: dict[str, int] = {}
    slot = np.fromiter(
        (number.setdefault(k, len(number)) for k in keys), dtype=np.int64, count=len(keys)
    )
    names = list(number)
    at = np.asarray(rows, dtype=np.int64)
    share = np.ones(len(at)) if shares is None else np.asarray(shares, dtype=np.float64)
    value = m.value[at] * share
    won, returned, verified = m.won_back[at], m.returned[at], m.verified[at]

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(slot, weights=weights, minlength=len(names))

    columns = {
        "cases": np.bincount(slot, minlength=len(names)),
        "attempted": total(m.attempted[at].astype(np.float64)),
        "won_back": total(won.astype(np.float64)),
        "returned": total(returned.astype(np.float64)),
        "value_lost": total(value),
        "value_won_back": total(np.where(won, value, 0.0)),
        "value_returned": total(np.where(returned, value, 0.0)),
        "revenue_since": total(m.since[at] * share),
        "credit_granted": total(m.credit[at] * share),
        "value_verified": total(np.where(verified, value, 0.0)),
        "value_unverified": total(np.where(verified, 0.0, value)),
    }
    return {
        str(name): _Sums(**{k: float(v[i]) for k, v in columns.items()})
        for i, name in enumerate(names)
    }


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
    (the app's) re-reads only the cases changed since its last read.
    """
    if actor is not None:
        require(actor, Action.VIEW_REPORTS)
    notes: list[str] = []
    worked = cache.read(db, since) if cache is not None else _worked_cases(db, since)
    labels = dict(db.execute(select(ReasonCode.code, ReasonCode.label)).all())
    reps = dict(db.execute(select(User.id, User.name)).all())
    _add_credit(db, worked)
    notes.extend(_add_revenue_since(ledger, worked))
    said, cancellations = _add_cancellations(ledger, worked, since, labels)
    labels |= said
    measures = _Measures.of(worked)
    valueless = int(np.count_nonzero(measures.value == 0))
    if valueless:
        notes.append(
            f"{valueless:,} case(s) have no value before they left "
            "(no value_before and no revenue last year) and count as 0"
        )

    everyone = list(range(len(worked)))
    total = _sums_by(measures, ["total"] * len(worked), everyone).get("total", _Sums())
    reason_keys: list[str] = []
    reason_rows: list[int] = []
    reason_shares: list[float] = []
    for i, w in enumerate(worked):
        codes = list(dict.fromkeys(w.reasons)) or [NOT_DIAGNOSED]
        reason_keys += codes
        reason_rows += [i] * len(codes)
        reason_shares += [1.0 / len(codes)] * len(codes)
    by_reason = _sums_by(measures, reason_keys, reason_rows, reason_shares)
    by_tier = _sums_by(measures, [w.tier for w in worked], everyone)
    reps_of = [str(w.owner_id) if w.owner_id else UNASSIGNED for w in worked]
    by_rep = _sums_by(measures, reps_of, everyone)
    by_offer = _sums_by(measures, [w.offer for w in worked], everyone)

    def label_of(code: str) -> str:
        return NOT_DIAGNOSED_LABEL if code == NOT_DIAGNOSED else labels.get(code, code)

    def rep_of(key: str) -> str:
        return reps.get(int(key), f"user {key}") if key != UNASSIGNED else UNASSIGNED

    reasons = _ranked((s.slice(code, label_of(code)) for code, s in by_reason.items()))
    # "not diagnosed" last: it is what the desk has still to learn, not a reason.
    reasons.sort(key=lambda s: s.key == NOT_DIAGNOSED)
    # The newest verified calls only: Voice rows are built for what is shown.
    now = utcnow()
    verified = sorted(
        (w for w in worked if w.verified),
        key=lambda w: (w.call_at or now, w.case_id),
        reverse=True,
    )
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
        for w in verified[:WORDS_LIMIT]
    ]
    return ReasonsReport(
        generated_at=utcnow(),
        since=since,
        total=total.slice("total", "all worked cases"),
        by_reason=reasons,
        by_tier=_ranked(s.slice(k, k) for k, s in by_tier.items()),
        by_rep=_ranked(s.slice(k, rep_of(k)) for k, s in by_rep.items()),
        by_offer=_ranked(s.slice(k, k.replace("_", " ")) for k, s in by_offer.items()),
        voices=voices,
        voices_total=len(verified),
        notes=notes,
        cancellations=cancellations,
        public_complaints=_public_complaints(db, ledger, since, label_of),
        drivers=drivers_view(run),
    )


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
# Audit ids are drawn when a row is inserted, committed later: a transaction may commit an
# id below one already seen. Each read looks this far back again for ids it has not seen,
# so a late commit is not missed.
AUDIT_SLACK = 500


class WorkedCache:
    """The worked cases as last read, per ``since``, brought up to date by re-reading
    only the cases the audit log names as changed since; the whole set again when an entry
    of another kind appears (the desk writes every change with its audit row, in the same
    transaction: docs/reasons-report.md). Safe across threads."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: OrderedDict[date | None, _Held] = OrderedDict()

    def read(self, db: Session, since: date | None) -> list[_Worked]:
        """The worked cases as the desk is now (copies: the caller may change them)."""
        newest = db.scalar(select(func.max(AuditEntry.id))) or 0  # before the rows are read
        with self._lock:
            held = self._kept.get(since)
        entries = db.execute(
            select(AuditEntry.id, AuditEntry.entity, AuditEntry.entity_id).where(
                AuditEntry.id > min(newest, held.newest if held else newest) - AUDIT_SLACK
            )
        ).all()
        rows = None
        if held is not None:
            fresh = [(entity, i) for n, entity, i in entries if n not in held.window]
            rows = _brought_up_to_date(db, since, held.rows, fresh)
        if rows is None:
            rows = {w.case_id: w for w in _worked_cases(db, since)}
        window = frozenset(n for n, _, _ in entries if n > newest - AUDIT_SLACK)
        with self._lock:
            self._kept[since] = _Held(newest, window, rows)
            self._kept.move_to_end(since)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return [_copy(rows[i]) for i in sorted(rows)]


def _copy(w: _Worked) -> _Worked:
    """A shallow copy of ``w`` (the report fills in a copy's credit, revenue and reasons),
    without :func:`copy.copy`'s general machinery: 10,000s are made a rebuild."""
    made = object.__new__(_Worked)
    made.__dict__.update(w.__dict__)
    return made


@dataclass(frozen=True)
class _Held:
    newest: int  # the newest audit id when the rows were read
    window: frozenset[int]  # the audit ids seen among the last AUDIT_SLACK
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


def _add_credit(db: Session, worked: list[_Worked]) -> None:
    """Credit given per case (concessions of kind credit, granted or countered: a counter
    gives its smaller amount): one query."""
    if not worked:
        return
    by_id = {w.case_id: w for w in worked}
    rows = db.execute(
        select(Concession.case_id, func.sum(Concession.granted))
        .where(Concession.state.in_(("granted", "countered")), Concession.kind == "credit")
        .group_by(Concession.case_id)
    )
    for case_id, granted in rows:
        if case_id in by_id:
            by_id[case_id].credit = float(granted or 0.0)


def _reason_code(words: str, labels: dict[str, str]) -> str:
    """The taxonomy's code for a cancellation's words when they name one (its code or its
    label, any case); else a code of their own, labelled with the words."""
    wanted = words.strip().casefold()
    for code, label in labels.items():
        if wanted in (code.casefold(), code.replace("_", " ").casefold(), label.casefold()):
            return code
    return f"said:{wanted}"


def _add_cancellations(
    ledger: Ledger | None, worked: list[_Worked], since: date | None, labels: dict[str, str]
) -> tuple[dict[str, str], int]:
    """Each subscription cancelled on or after ``since`` with the customer's reason: the
    reason of their worked case when that has none diagnosed, else an entry of its own
    (one ledger read). Returns the labels of reasons outside the taxonomy and how many
    cancellations were counted."""
    cases: dict[str, _Worked] = {}
    for w in worked:  # the newest worked case of each customer
        if w.customer_id not in cases or w.case_id > cases[w.customer_id].case_id:
            cases[w.customer_id] = w
    said: dict[str, str] = {}
    counted = 0
    seen: set[str] = set()
    for c in reversed(reads.cancellations(ledger, since)):  # newest first
        code = _reason_code(c.reason, labels)
        if code not in labels:
            said[code] = c.reason
        at = datetime(c.ended_on.year, c.ended_on.month, c.ended_on.day)
        case = cases.get(c.customer_id)
        if case is not None:
            # A case speaks once: for the customer's newest cancellation, and only when no
            # call has diagnosed it (a rep's diagnosis stands).
            if c.customer_id in seen or case.reasons:
                continue
            seen.add(c.customer_id)
            case.reasons, case.verified = [code], True
            case.verification, case.customer_words = CANCELLATION, c.reason
            case.call_at = case.call_at or at
            counted += 1
            continue
        worked.append(
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
                call_at=at,
                verification=CANCELLATION,
                customer_words=c.reason,
            )
        )
        counted += 1
    return said, counted


def _add_revenue_since(ledger: Ledger | None, worked: list[_Worked]) -> list[str]:
    """Each won-back case's ledger orders from its closing day on (until the same
    customer's next win-back, so no order counts twice): one ledger read."""
    won = sorted(
        (w for w in worked if w.outcome == WON_BACK and w.closed_at is not None),
        key=lambda w: (w.customer_id, w.closed_at or datetime.min, w.case_id),
    )
    if ledger is None or not ledger.manifest_path.exists():
        return ["no ledger: the revenue since the win-back is not counted (0)"]
    if not won:
        return []
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
    rows = reads.revenue_in_windows(ledger, windows).items()
    by_id = {w.case_id: w for w in won}
    for case_id, amount in rows:
        by_id[case_id].since_revenue = float(amount or 0.0)
    return []
