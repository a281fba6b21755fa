"""The dashboard's headline figures: the few numbers a manager reads first.

* **won back this month**: cases closed in the month of ``today`` (UTC) that count as
  won back (:func:`winback.desk.outcomes.counted_outcome_sql`), and their revenue a year
  (the case's value, as the reasons report weighs it: ``value_before``, else
  ``revenue_last_year``, else 0);
* **open cases** and the **revenue at risk** on them (the same value, summed);
* **overdue**: open tasks past their due date, everyone's;
* **pending approvals**: concession requests on open cases the viewer may decide (the
  nav's count).

Read fresh on every page, so a case closed or a concession decided shows on the next
one: three aggregate queries, and the open cases from :class:`OpenCases` (the app's: the
open cases' values kept and brought up to date from the audit log, rather than summed over
every open case on each page) or, without it, a fourth query.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from winback.desk import audit, tasks
from winback.desk.concessions import pending_query
from winback.desk.models import Case, Task, User
from winback.desk.outcomes import WON_BACK, counted_outcome_sql
from winback.desk.permissions import Action, may, require


@dataclass(frozen=True)
class Headline:
    """The dashboard's first row."""

    month: date  # the first day of the month "this month" means
    won_back: int
    revenue_won_back: float
    open_cases: int
    revenue_at_risk: float
    overdue: int
    pending_approvals: int | None  # None: the viewer decides no requests


def case_value() -> ColumnElement[float]:
    """A case's value in SQL: ``value_before``, else ``revenue_last_year``, else 0."""
    return func.coalesce(Case.value_before, Case.revenue_last_year, 0.0)


# Audit entities whose entries change no case's state or value (a call or a concession
# that closes its case writes the case's own entry too).
_NOT_OPEN_CASES = frozenset(
    {"task", "token", "filter", "address", "post", "reason", "user", "source", "red_carpet"}
    | {"call", "concession"}
)
# More cases named than this since the last read (a sync's refresh): read them all again.
_REREAD_ALL = 5_000


class OpenCases:
    """The open cases' values (case id: value), as last read, brought up to date by
    re-reading only the cases the audit log names as changed since; every open case again
    when an entry of another kind appears. Every change to a case is audited in its own
    transaction, by whichever process made it, so the figures are those of the database
    as it is, read in a few milliseconds instead of a scan of every open case.
    Safe across threads (one reader at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: audit.Seen | None = None
        self._values: dict[int, float] = {}

    def figures(self, db: Session) -> tuple[int, float]:
        """How many cases are open and their summed value, as the desk is now."""
        with self._lock:
            entries, seen = audit.entries_since(db, self._seen)
            named = {int(i) for entity, i in entries if entity == "case" and i.isdigit()}
            other = any(
                not i.isdigit() if e == "case" else e not in _NOT_OPEN_CASES for e, i in entries
            )
            if self._seen is None or not self._seen.complete or other or len(named) > _REREAD_ALL:
                self._values = dict(_open_values(db, None))
            elif named:
                for case_id in named:
                    self._values.pop(case_id, None)
                self._values.update(_open_values(db, sorted(named)))
            self._seen = seen
            return len(self._values), math.fsum(self._values.values())


def _open_values(db: Session, only: list[int] | None) -> list[tuple[int, float]]:
    """(id, value) of the open cases (of ``only``, when given)."""
    query = select(Case.id, case_value()).where(Case.state != "closed")
    if only is not None:
        query = query.where(Case.id.in_(only))
    return [(int(i), float(v)) for i, v in db.connection().execute(query)]


def headline(
    db: Session,
    user: User,
    today: date | None = None,
    *,
    kept: OpenCases | None = None,
    approvals: int | None = None,
) -> Headline:
    """The headline figures as the desk is now (``today`` fixes "this month" in tests;
    ``kept``: the app's open cases; ``approvals``: the requests waiting for ``user`` as
    the page's nav counted them, read here when not given)."""
    require(user, Action.VIEW_REPORTS)
    today = today or tasks.today()
    month = today.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    value = case_value()
    is_open = Case.state != "closed"
    won = counted_outcome_sql() == WON_BACK
    # This month's closes from the cases' headline index (migration 0012), not their rows.
    won_n, won_value = db.execute(
        select(
            func.coalesce(func.sum(case((won, 1), else_=0)), 0),
            func.coalesce(func.sum(case((won, value), else_=0.0)), 0.0),
        ).where(
            Case.state == "closed",
            Case.closed_at >= datetime(month.year, month.month, 1),
            Case.closed_at < datetime(following.year, following.month, 1),
        )
    ).one()
    if kept is not None:
        open_n, at_risk = kept.figures(db)
    else:
        open_n, at_risk = db.execute(
            select(func.count(), func.coalesce(func.sum(value), 0.0)).where(is_open)
        ).one()
    overdue = db.scalar(select(func.count()).where(Task.done_at.is_(None), Task.due_on < today))
    pending = None
    if may(user, Action.DECIDE_CONCESSION):
        pending = approvals
        if pending is None:
            pending = db.scalar(pending_query(user).with_only_columns(func.count())) or 0
    return Headline(
        month=month,
        won_back=int(won_n),
        revenue_won_back=float(won_value),
        open_cases=int(open_n),
        revenue_at_risk=float(at_risk),
        overdue=int(overdue or 0),
        pending_approvals=None if pending is None else int(pending),
    )
