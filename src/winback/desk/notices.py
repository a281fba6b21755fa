"""Notices: what the desk tells one user (their concession request was decided, a
red-carpet customer of theirs slipped), and the counts the nav shows on every page.

A notice is written in the same transaction as what it tells of, so it exists exactly
when that happened. Each is the user's own: they read it on their queue and mark it read.
The nav's counts are three cheap indexed queries a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from winback.desk import tasks
from winback.desk.models import NOTICE_KINDS, Notice, Task, User, utcnow
from winback.desk.permissions import Action, may, require

# How many unread notices the queue lists (the newest); the count says if there are more.
SHOWN = 20


def notify(db: Session, user_id: int | None, kind: str, text: str, link: str = "") -> None:
    """Tell ``user_id`` something (added to the caller's transaction; nobody: nothing)."""
    if user_id is None:
        return
    assert kind in NOTICE_KINDS, kind
    db.add(Notice(user_id=user_id, kind=kind, text=text[:500], link=link[:300]))


def unread(db: Session, user: User, limit: int = SHOWN) -> list[Notice]:
    """The user's unread notices, newest first."""
    require(user, Action.VIEW_OWN_QUEUE)
    query = select(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    return list(db.scalars(query.order_by(Notice.id.desc()).limit(limit)))


def mark_read(db: Session, user: User, notice_id: int | None = None) -> int:
    """Mark one of the user's notices read (or all of them, ``notice_id`` None); how many
    were marked. Another user's notice, or one read already, is left alone: marking twice
    (a double click) does nothing the second time."""
    require(user, Action.VIEW_OWN_QUEUE)
    query = update(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    if notice_id is not None:
        query = query.where(Notice.id == notice_id)
    marked = db.execute(query.values(read_at=utcnow())).rowcount  # type: ignore[attr-defined]
    db.commit()
    return int(marked or 0)


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
    from winback.desk.concessions import pending_query

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
