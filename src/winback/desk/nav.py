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
    """The nav's counts for ``user``, in one query: approvals waiting (for those who
    decide), open and overdue tasks, unread notices (each an indexed subquery)."""
    mine = (Task.owner_id == user.id, Task.done_at.is_(None))
    late = case((Task.due_on < tasks.today(), 1), else_=0)
    wanted = [
        select(func.count()).where(*mine).scalar_subquery(),
        select(func.coalesce(func.sum(late), 0)).where(*mine).scalar_subquery(),
        select(func.count())
        .where(Notice.user_id == user.id, Notice.read_at.is_(None))
        .scalar_subquery(),
    ]
    if may(user, Action.DECIDE_CONCESSION):
        wanted.append(pending_query(user).with_only_columns(func.count()).scalar_subquery())
    row = db.execute(select(*wanted)).one()
    open_tasks, overdue, unread = (int(v or 0) for v in row[:3])
    return NavCounts(int(row[3] or 0) if len(row) > 3 else 0, open_tasks, overdue, unread)
