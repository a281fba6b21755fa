"""The counts the desk's nav shows beside its links: approvals waiting for the user,
their open and overdue tasks, their unread notices. Its own module: it reads concessions,
tasks and notices, and concessions (through cases and the red carpet) writes notices."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from winback.desk import tasks
from winback.desk.concessions import pending_query
from winback.desk.models import Notice, Task, User
from winback.desk.permissions import Action, may


@dataclass(frozen=True)
class NavCounts:
    """What the nav shows beside its links."""

    approvals: int = 0  # pending requests the user may decide
    tasks: int = 0  # the user's open tasks
    overdue: int = 0  # of which overdue
    notices: int = 0  # unread notices


def nav_counts(db: Session, user: User) -> NavCounts:
    """The nav's counts for ``user``: a count of approvals (for those who decide), one
    query for open and overdue tasks, one for unread notices."""
    approvals = 0
    if may(user, Action.DECIDE_CONCESSION):
        approvals = db.scalar(pending_query(user).with_only_columns(func.count())) or 0
    late = case((Task.due_on < tasks.today(), 1), else_=0)
    open_tasks, overdue = db.execute(
        select(func.count(), func.coalesce(func.sum(late), 0)).where(
            Task.owner_id == user.id, Task.done_at.is_(None)
        )
    ).one()
    unread_count = db.scalar(
        select(func.count()).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    )
    return NavCounts(int(approvals), int(open_tasks), int(overdue), int(unread_count or 0))
