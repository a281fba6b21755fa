"""The dashboard's headline figures: the few numbers a manager reads first.

* **won back this month**: cases closed in the month of ``today`` (UTC) that count as
  won back (:func:`winback.desk.outcomes.counted_outcome_sql`), and their revenue a year
  (the case's value, as the reasons report weighs it: ``value_before``, else
  ``revenue_last_year``, else 0);
* **open cases** and the **revenue at risk** on them (the same value, summed);
* **overdue**: open tasks past their due date, everyone's;
* **pending approvals**: concession requests on open cases the viewer may decide (the
  nav's count).

Always read fresh (four aggregate queries, no cache), so a case closed or a concession
decided shows on the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from winback.desk import tasks
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


def headline(db: Session, user: User, today: date | None = None) -> Headline:
    """The headline figures as the desk is now (``today`` fixes "this month" in tests)."""
    require(user, Action.VIEW_REPORTS)
    today = today or tasks.today()
    month = today.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    value = case_value()
    is_open = Case.state != "closed"
    won = counted_outcome_sql() == WON_BACK
    # Two reads of the cases' headline index (migration 0012): this month's closes, and
    # the open cases; neither reads a case's whole row.
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
    open_n, at_risk = db.execute(
        select(func.count(), func.coalesce(func.sum(value), 0.0)).where(is_open)
    ).one()
    overdue = db.scalar(select(func.count()).where(Task.done_at.is_(None), Task.due_on < today))
    pending = None
    if may(user, Action.DECIDE_CONCESSION):
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
