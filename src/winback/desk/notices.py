"""Notices: what the desk tells one user (their concession request was decided, a
red-carpet customer of theirs slipped), and the counts the nav shows on every page.

A notice is written in the same transaction as what it tells of, so it exists exactly
when that happened. Each is the user's own: they read it on their queue and mark it read.
The nav's counts are three cheap indexed queries a page.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from winback.desk.models import NOTICE_KINDS, Notice, User, utcnow
from winback.desk.permissions import Action, require

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
