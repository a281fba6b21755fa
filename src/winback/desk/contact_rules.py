"""Contact rules: which customers winback sync opens no new case for, and what came of a
customer's last case.

The policy's ``[contact]`` section (``policy.ContactRules``) sets the windows. A customer
on the scan's list gets no new case while any of these holds, checked in this order (the
first that holds is the one sync counts):

1. ``do_not_contact``: the customer's do-not-contact flag stands
   (:mod:`winback.desk.do_not_contact`).
2. ``red_carpet``: the customer's red carpet is in progress.
3. ``campaign_holdout``: the customer is in the randomised holdout of a launched campaign
   whose window has not ended (docs/campaigns.md): the holdout gets nothing, a rep's call
   included, or the lift it measures would be wrong.
4. ``won_back``: a case of theirs closed won back within ``won_back_days``.
5. ``declined``: a case closed declined within ``declined_days``.
6. ``unreachable``: a case closed unreachable within ``unreachable_days``.

Windows are counted in days from when the case closed to now (both in UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk.campaign_audience import holdouts_on
from winback.desk.do_not_contact import active_blocks
from winback.desk.models import CampaignMember, Case, ContactBlock, RedCarpet, utcnow
from winback.desk.outcomes import WON_BACK, counted_outcome
from winback.policy import ContactRules

# The rules in the order they are checked; sync counts the first that holds.
RULES = ("do_not_contact", "red_carpet", "campaign_holdout", "won_back", "declined", "unreachable")
# Ids per IN (...) list (SQLite's parameter limit).
_CHUNK = 900
# More ids than this: each rule's rows are read whole (see held_back).
_WHOLE = 20 * _CHUNK
_Query = TypeVar("_Query")


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _windows(rules: ContactRules) -> dict[str, int]:
    """Days a closed case holds its customer back, by counted outcome."""
    return {
        WON_BACK: rules.won_back_days,
        "declined": rules.declined_days,
        "unreachable": rules.unreachable_days,
    }


def held_back(
    db: Session, customer_ids: Iterable[str], rules: ContactRules, now: datetime | None = None
) -> dict[str, str]:
    """Which of ``customer_ids`` may get no new case now, each with the rule that holds
    it (the first of :data:`RULES`). Customers free to contact are left out.

    Up to :data:`_WHOLE` ids are looked up in ``IN (...)`` lists of :data:`_CHUNK`; more
    (a first sync opening 200k cases) read each rule's rows once, whole, and keep the ids
    asked for: a few queries instead of four per chunk."""
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    now = now or utcnow()
    windows = _windows(rules)
    oldest = now - timedelta(days=max(windows.values()))
    wanted = set(ids)
    chunks: Iterable[list[str] | None] = _chunks(ids) if len(ids) <= _WHOLE else [None]
    blocked: set[str] = set()
    carpets: set[str] = set()
    holdouts: set[str] = set()
    recent: dict[str, set[str]] = {}
    for chunk in chunks:
        blocked.update(db.scalars(_among(active_blocks(), ContactBlock.customer_id, chunk)))
        on_carpet = select(RedCarpet.customer_id).where(RedCarpet.ended_at.is_(None))
        carpets.update(db.scalars(_among(on_carpet, RedCarpet.customer_id, chunk)))
        held = holdouts_on(clock.local(now).date())
        holdouts.update(db.scalars(_among(held, CampaignMember.customer_id, chunk)))
        closed = select(Case.customer_id, Case.outcome, Case.contacted, Case.closed_at).where(
            Case.state == "closed", Case.closed_at >= oldest
        )
        for customer_id, outcome, contacted, closed_at in db.execute(
            _among(closed, Case.customer_id, chunk)
        ):
            counted = counted_outcome(outcome, contacted)
            days = windows.get(counted or "")
            if days is not None and closed_at and closed_at >= now - timedelta(days=days):
                recent.setdefault(customer_id, set()).add(str(counted))
    found: dict[str, str] = {}
    for rule, holding in (
        ("do_not_contact", blocked),
        ("red_carpet", carpets),
        ("campaign_holdout", holdouts),
    ):
        for customer_id in holding & wanted:
            found.setdefault(customer_id, rule)
    for customer_id, outcomes in recent.items():
        if customer_id in wanted and customer_id not in found:
            found[customer_id] = next(r for r in RULES if r in outcomes)
    return found


def _among(query: _Query, column: Any, chunk: list[str] | None) -> _Query:
    """``query`` (a select) narrowed to the customers in ``chunk`` (None: all of them)."""
    return query if chunk is None else cast(_Query, cast(Any, query).where(column.in_(chunk)))


def latest_closed(cases: Iterable[Case]) -> Case | None:
    """The most recently closed of one customer's ``cases`` (read already), in
    :func:`last_closed`'s order."""
    closed = [c for c in cases if c.state == "closed" and c.closed_at is not None]
    return max(closed, key=lambda c: (c.closed_at, c.id), default=None)


def last_closed(db: Session, customer_ids: Iterable[str]) -> dict[str, Case]:
    """Each customer's most recently closed case (for "declined 12 Mar" on the queue)."""
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    last: dict[str, Case] = {}
    for chunk in _chunks(ids):
        query = (
            select(Case)
            .where(Case.state == "closed", Case.closed_at.is_not(None), Case.customer_id.in_(chunk))
            .order_by(Case.closed_at, Case.id)
        )
        for case in db.scalars(query):
            last[case.customer_id] = case
    return last
