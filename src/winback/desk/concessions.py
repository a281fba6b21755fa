"""Concessions within authority: what a user may give a customer on the spot, and who
decides the rest.

Every user holds three limits (percent discount, credit amount, free items). A limit
caps the TOTAL granted of that kind on ONE case, so splitting a large request into small
ones gains nothing. Within the limit a request is granted at once ("self"); above it, it
waits for a manager (or an executive when no active manager's limit covers it), who
approves, counters with a smaller amount, or refuses. ``docs/concessions.md`` has the rules.

Every rule is checked here, so pages and API enforce the same limits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from winback.desk import audit, notices
from winback.desk.cases import locked_case
from winback.desk.models import (
    CONCESSION_DECISIONS,
    CONCESSION_KINDS,
    Call,
    Case,
    Concession,
    User,
    utcnow,
)
from winback.desk.permissions import Action, require, require_case_work
from winback.errors import Conflict, InvalidInput, NotFound, PermissionDenied

# States whose ``granted`` counts towards the case's total of a kind.
GIVEN_STATES = ("granted", "countered")
# Money and percentages are given to the hundredth at most (a cent, 0.01 %), so totals are
# compared exactly as whole hundredths: 0.1 + 0.2 fits a limit of 0.3, and 10.0000004 %
# is refused rather than rounded into a 10 % limit.
_PLACES = 2
MAX_NOTE = 2000
LABELS = {"discount_pct": "percent discount", "credit": "credit", "free_items": "free items"}
# Each kind's column on User.
_LIMIT_FIELD = {
    "discount_pct": "limit_discount_pct",
    "credit": "limit_credit",
    "free_items": "limit_free_items",
}
# Whose limits each role may set (admins: anyone's; nobody their own).
_SETS_LIMITS_OF = {
    "admin": frozenset({"admin", "manager", "executive", "rep"}),
    "executive": frozenset({"manager", "rep"}),
    "manager": frozenset({"rep"}),
}


def _hundredths(value: float) -> int:
    # Decimal, not value * 100: a float near its largest would overflow to infinity.
    return round(Decimal(repr(float(value))).scaleb(_PLACES))


def _fits(total: float, limit: float) -> bool:
    return _hundredths(total) <= _hundredths(limit)


def check_kind(kind: str) -> str:
    if kind not in CONCESSION_KINDS:
        raise InvalidInput(f"kind {kind!r}: use one of {', '.join(CONCESSION_KINDS)}")
    return kind


def check_amount(
    kind: str, value: object, field: str = "amount", *, zero_ok: bool = False
) -> float:
    """``value`` as a valid amount of ``kind``, else InvalidInput naming ``field``.

    Requests need more than zero (``zero_ok`` False); limits may be zero (nothing on the
    spot). Percentages go up to 100, money and percentages have at most two decimals,
    free items are whole numbers, nothing is NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} {value!r}: give a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{field} {value!r}: give a finite number")
    least = "0 or more" if zero_ok else "more than 0"
    if number < 0 or (number == 0 and not zero_ok):
        raise InvalidInput(f"{field} {value!r}: give {least}")
    if kind == "discount_pct" and number > 100:
        raise InvalidInput(f"{field} {value!r}: a percent discount is at most 100")
    if kind == "free_items" and number != int(number):
        raise InvalidInput(f"{field} {value!r}: free items are a whole number")
    exponent = Decimal(repr(number)).as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_PLACES:
        raise InvalidInput(
            f"{field} {value!r}: give at most {_PLACES} decimals "
            f"({'a cent' if kind == 'credit' else 'a hundredth of a percent'})"
        )
    return number


def limit_of(user: User, kind: str) -> float:
    return float(getattr(user, _LIMIT_FIELD[kind]))


def limits_of(user: User) -> dict[str, float]:
    """The user's three limits by kind (free items a whole number), for pages, API, audit."""
    return {
        "discount_pct": user.limit_discount_pct,
        "credit": user.limit_credit,
        "free_items": user.limit_free_items,
    }


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def already_granted(db: Session, case_id: int, kind: str) -> float:
    """What has been given of ``kind`` on the case so far (granted and countered)."""
    total = db.scalar(
        select(func.coalesce(func.sum(Concession.granted), 0.0)).where(
            Concession.case_id == case_id,
            Concession.kind == kind,
            Concession.state.in_(GIVEN_STATES),
        )
    )
    return float(total or 0.0)


def _route(db: Session, kind: str, total: float) -> str:
    """ "manager" when some active manager could approve ``total``, else "executive"."""
    column = getattr(User, _LIMIT_FIELD[kind])
    managers = db.scalars(select(column).where(User.role == "manager", User.active.is_(True)))
    return "manager" if any(_fits(total, float(m)) for m in managers) else "executive"


def _snapshot(c: Concession) -> dict[str, object]:
    return {
        "case_id": c.case_id,
        "kind": c.kind,
        "asked": c.asked,
        "granted": c.granted,
        "state": c.state,
        "route": c.route,
        "decided_by": c.decided_by,
        "decision_note": c.decision_note,
    }


def request_concession(
    db: Session,
    actor: User,
    case_id: int,
    *,
    kind: str,
    amount: float,
    note: str = "",
    call_id: int | None = None,
    commit: bool = True,
) -> Concession:
    """Grant a concession within the actor's limit, or ask for it above the limit.

    ``commit`` False leaves the commit to the caller (the guided call saves its step and
    the concession in one transaction).
    """
    require(actor, Action.ASK_CONCESSION)
    check_kind(kind)
    amount = check_amount(kind, amount)
    case = locked_case(db, case_id)
    require_case_work(actor, case)
    if case.state == "closed":
        raise Conflict(f"case {case_id} is closed; no concession can be given on it")
    if call_id is not None:
        call = db.get(Call, call_id)
        if call is None or call.case_id != case.id:
            raise InvalidInput(f"call_id {call_id}: no call with that id on case {case_id}")
    waiting = db.scalar(
        select(Concession.id).where(
            Concession.case_id == case.id, Concession.kind == kind, Concession.state == "pending"
        )
    )
    if waiting is not None:
        raise Conflict(
            f"request {waiting} for {LABELS[kind]} on case {case_id} is still waiting for an "
            "answer: wait for it before asking again"
        )
    total = already_granted(db, case.id, kind) + amount
    concession = Concession(
        case_id=case.id,
        call_id=call_id,
        kind=kind,
        asked=amount,
        note=note.strip()[:MAX_NOTE],
        requested_by=actor.id,
        requested_at=utcnow(),
        decision_note="",
    )
    if _fits(total, limit_of(actor, kind)):
        concession.state, concession.route, concession.granted = "granted", "self", amount
        concession.decided_by, concession.decided_at = actor.id, utcnow()
    else:
        concession.state, concession.route = "pending", _route(db, kind, total)
    db.add(concession)
    db.flush()
    audit.record(
        db, actor, "concession.request", "concession", concession.id, None, _snapshot(concession)
    )
    if commit:
        db.commit()
    return concession


def _may_decide(actor: User, concession: Concession) -> bool:
    if concession.route == "executive":
        return actor.role == "executive"
    return concession.route == "manager" and actor.role in ("manager", "executive")


def decide(
    db: Session,
    actor: User,
    concession_id: int,
    *,
    decision: str,
    amount: float | None = None,
    note: str = "",
) -> Concession:
    """Approve, counter (a smaller amount) or refuse a pending request."""
    require(actor, Action.DECIDE_CONCESSION)
    if decision not in CONCESSION_DECISIONS:
        raise InvalidInput(f"decision {decision!r}: use one of {', '.join(CONCESSION_DECISIONS)}")
    concession = db.get(Concession, concession_id)
    if concession is None:
        raise NotFound(f"no concession request {concession_id}")
    case = locked_case(db, concession.case_id)
    db.refresh(concession)
    if concession.state != "pending":
        raise Conflict(f"request {concession_id} was decided already ({concession.state})")
    if concession.requested_by == actor.id:
        raise PermissionDenied("nobody decides their own request: another must")
    if not _may_decide(actor, concession):
        raise PermissionDenied(
            f"request {concession_id} is above every manager's limit: an executive decides it"
            if concession.route == "executive"
            else f"{_a(actor.role)} may not decide request {concession_id}"
        )
    if case.state == "closed":
        raise Conflict(f"case {case.id} was closed; its requests can no longer be decided")
    kind, limit = concession.kind, limit_of(actor, concession.kind)
    already = already_granted(db, case.id, kind)
    granted: float | None
    if decision == "approve":
        if not _fits(already + concession.asked, limit):
            raise PermissionDenied(
                f"approving {concession.asked:g} {LABELS[kind]} would bring case {case.id} to "
                f"{already + concession.asked:g}, above your limit of {limit:g}: counter with "
                "less or leave it to someone with a higher limit"
            )
        granted, state = concession.asked, "granted"
    elif decision == "counter":
        if amount is None:
            raise InvalidInput("amount: a counter needs the amount you grant instead")
        amount = check_amount(kind, amount)
        if amount >= concession.asked:
            raise InvalidInput(
                f"amount {amount:g}: a counter is less than the {concession.asked:g} asked "
                "(approve to grant it all)"
            )
        if not _fits(already + amount, limit):
            raise PermissionDenied(
                f"countering with {amount:g} {LABELS[kind]} would bring case {case.id} to "
                f"{already + amount:g}, above your limit of {limit:g}"
            )
        granted, state = amount, "countered"
    else:
        granted, state = None, "refused"
    before = _snapshot(concession)
    concession.granted, concession.state = granted, state
    concession.decided_by, concession.decided_at = actor.id, utcnow()
    concession.decision_note = note.strip()[:MAX_NOTE]
    audit.record(
        db,
        actor,
        f"concession.{decision}",
        "concession",
        concession.id,
        *audit.changes(before, _snapshot(concession)),
    )
    notices.notify(
        db,
        concession.requested_by,
        "concession_decided",
        decision_text(concession, case, actor.name),
        f"/customers/{quote(case.customer_id, safe='')}",
    )
    db.commit()
    return concession


_DONE = {"granted": "approved", "countered": "countered", "refused": "refused"}


def decision_text(concession: Concession, case: Case, decider: str, whose: str = "your") -> str:
    """A decision in words, for the asker's notice ("Ann approved your request...") and
    the decider's confirmation ("You approved Bob's request...")."""
    who = case.customer_name or case.customer_id
    asked = f"{_amount(concession.kind, concession.asked)} {LABELS[concession.kind]}"
    said = f"{decider} {_DONE.get(concession.state, concession.state)} {whose} request of {asked}"
    if concession.state == "countered" and concession.granted is not None:
        said += f" with {_amount(concession.kind, concession.granted)} instead"
    said += f" for {who} (case {case.id})"
    return said + (f": {concession.decision_note}" if concession.decision_note else "")


def _amount(kind: str, value: float) -> str:
    return f"{value:,.2f}" if kind == "credit" else f"{value:g}"


def approvals_for(db: Session, actor: User) -> list[Concession]:
    """Pending requests on open cases that ``actor`` may decide, oldest first."""
    require(actor, Action.DECIDE_CONCESSION)
    query = pending_query(actor).order_by(Concession.requested_at, Concession.id)
    return list(db.scalars(query))


def pending_query(actor: User) -> Select[Any]:
    """The pending requests on open cases ``actor`` may decide (the approvals page lists
    them, the nav counts them)."""
    routes = ("manager", "executive") if actor.role == "executive" else ("manager",)
    return (
        select(Concession)
        .join(Case, Case.id == Concession.case_id)
        .where(
            Concession.state == "pending",
            Concession.route.in_(routes),
            Concession.requested_by != actor.id,
            Case.state != "closed",
        )
    )


def concessions_of_cases(db: Session, case_ids: list[int]) -> list[Concession]:
    """The cases' concessions, oldest first (the customer page and the API)."""
    if not case_ids:
        return []
    query = select(Concession).where(Concession.case_id.in_(case_ids))
    return list(db.scalars(query.order_by(Concession.id)))


@dataclass(frozen=True)
class ConcessionRow:
    """A concession with the names of who asked and who decided (the case panel)."""

    concession: Concession
    requested_by: str
    decided_by: str | None


def names_of(db: Session, user_ids: set[int]) -> dict[int, str]:
    """People's names by id, in one query."""
    query = select(User.id, User.name).where(User.id.in_(user_ids))
    return {row.id: row.name for row in db.execute(query)}


def rows_of_cases(
    db: Session, case_ids: list[int], names: Mapping[int, str] | None = None
) -> list[ConcessionRow]:
    """The cases' concessions with people's names, oldest first (two queries; one when
    the caller has every user's name by id in ``names``)."""
    found = concessions_of_cases(db, case_ids)
    if not found:
        return []
    if names is None:
        ids = {c.requested_by for c in found} | {c.decided_by for c in found if c.decided_by}
        names = names_of(db, ids)
    return [
        ConcessionRow(
            c,
            names.get(c.requested_by, f"user {c.requested_by}"),
            names.get(c.decided_by, f"user {c.decided_by}") if c.decided_by else None,
        )
        for c in found
    ]


def list_for_case(db: Session, actor: User, case_id: int) -> list[Concession]:
    """One case's concessions for anyone who may view the customer."""
    require(actor, Action.VIEW_CUSTOMER)
    if db.get(Case, case_id) is None:
        raise NotFound(f"no case {case_id}")
    return concessions_of_cases(db, [case_id])


def totals_of(concessions: list[Concession]) -> dict[int, dict[str, float]]:
    """Given totals by case and kind, from concessions already loaded (no query)."""
    sums: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in concessions:
        if c.state in GIVEN_STATES and c.granted is not None:
            sums[c.case_id][c.kind] += c.granted
    return {case_id: dict(kinds) for case_id, kinds in sums.items()}


# --- limits -----------------------------------------------------------------------------


def may_set_limits(actor: User, target: User) -> bool:
    """Whether ``actor`` may set ``target``'s limits (never their own)."""
    try:
        require(actor, Action.SET_LIMITS)
    except PermissionDenied:
        return False
    return actor.id != target.id and target.role in _SETS_LIMITS_OF.get(actor.role, frozenset())


def get_limits(db: Session, actor: User, user_id: int) -> User:
    """A user's limits: your own, or anyone's if you list users or set limits."""
    target = db.get(User, user_id)
    if target is None:
        raise NotFound(f"no user {user_id}")
    if target.id != actor.id:
        try:
            require(actor, Action.LIST_USERS)
        except PermissionDenied:
            require(actor, Action.SET_LIMITS)
    elif not actor.active:
        raise PermissionDenied("a deactivated user may do nothing")
    return target


def users_for_limits(db: Session, actor: User) -> list[User]:
    """Everyone whose limits ``actor`` may set, then the actor (to see their own)."""
    require(actor, Action.SET_LIMITS)
    people = db.scalars(select(User).order_by(User.role, User.username))
    return [u for u in people if may_set_limits(actor, u) or u.id == actor.id]


def set_limits(
    db: Session,
    actor: User,
    user_id: int,
    *,
    discount_pct: float,
    credit: float,
    free_items: float,
) -> User:
    """Set another user's three limits, within the rules of who may set whose."""
    require(actor, Action.SET_LIMITS)
    target = db.get(User, user_id)
    if target is None:
        raise NotFound(f"no user {user_id}")
    if target.id == actor.id:
        raise PermissionDenied("nobody sets their own limits: ask a manager, executive or admin")
    if not may_set_limits(actor, target):
        raise PermissionDenied(f"{_a(actor.role)} may not set {target.role}s' limits")
    wanted = {
        "discount_pct": check_amount("discount_pct", discount_pct, "discount_pct", zero_ok=True),
        "credit": check_amount("credit", credit, "credit", zero_ok=True),
        "free_items": check_amount("free_items", free_items, "free_items", zero_ok=True),
    }
    if target.role == "admin" and any(wanted.values()):
        raise InvalidInput("admins hold no concession authority: their limits stay 0")
    if actor.role != "admin":
        for kind, value in wanted.items():
            own = limit_of(actor, kind)
            if not _fits(value, own):
                raise PermissionDenied(
                    f"{kind} {value:g}: you cannot give more than you hold yourself ({own:g})"
                )
    before = limits_of(target)
    target.limit_discount_pct = wanted["discount_pct"]
    target.limit_credit = wanted["credit"]
    target.limit_free_items = int(wanted["free_items"])
    audit.record(
        db, actor, "user.limits", "user", target.id, *audit.changes(before, limits_of(target))
    )
    db.commit()
    return target
