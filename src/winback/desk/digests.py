"""The daily digest: each desk user's unread notices, gathered into one e-mail a day.

A step of the cycle's pass (winback/cycle.py) calls :func:`queue_digests` when SMTP is set
up; the digests go through the outbox like every other e-mail, so they are sent at most
once and counted in ``winback outbox status``. A user gets a digest when they have an
e-mail address, are active, and have unread notices that no earlier digest listed:

* one a day: the outbox key is ``digest:<user id>:<business date>``, so a second pass the
  same day (or two passes at once) queues nothing more; what arrives later waits for
  tomorrow's;
* never the same notice twice: each digest records the last notice it lists (the
  ``X-Winback-Notices-Through`` header), and the next one starts after it;
* a notice read on the desk before the pass is not mailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk import outbox
from winback.desk.models import Notice, OutboxMessage, User

# The header that records the last notice a digest listed (the next one starts after it).
THROUGH_HEADER = "X-Winback-Notices-Through"
# Notices listed in one digest at most (the rest are counted, and wait on the desk).
LISTED = 50


@dataclass(frozen=True)
class DigestReport:
    queued: int  # digests queued now
    duplicates: int  # users whose digest for the day was queued already
    users: int  # users who had something new to be told


def recipient_id(user_id: int) -> str:
    """The outbox's ``customer_id`` of a desk user's digest (never a customer's id)."""
    return f"desk-user:{user_id}"


def _through(db: Session, user_id: int) -> int:
    """The last notice id an earlier digest of the user listed (0: none)."""
    headers = db.scalar(
        select(OutboxMessage.headers)
        .where(OutboxMessage.customer_id == recipient_id(user_id))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    try:
        return int((headers or {}).get(THROUGH_HEADER, 0))
    except (TypeError, ValueError):
        return 0


def _text(user: User, notices: list[Notice], more: int, base_url: str) -> str:
    lines = [
        f"Hello {user.name},",
        "",
        "What the desk has told you, still unread:",
        "",
    ]
    for n in notices:
        lines.append(f"- {n.created_at:%d %b %Y %H:%M} UTC: {n.text}")
        if n.link:
            lines.append(f"  {base_url}{n.link}")
    if more:
        lines.append(f"- and {more} more on the desk")
    lines += [
        "",
        f"Read them, and mark them read, on your queue: {base_url}/",
        "",
        "You get this digest once a day while you have unread notices. Change or remove "
        f"your e-mail address on your account page: {base_url}/account",
    ]
    return "\n".join(lines)


def queue_digests(db: Session, base_url: str, day: date | None = None) -> DigestReport:
    """Queue today's digest for every active user with an e-mail address and unread
    notices that no earlier digest listed (commits). ``base_url``: the desk's public
    address, for the links."""
    day = day or clock.today()
    base_url = base_url.rstrip("/")
    waiting = select(Notice.user_id).where(Notice.read_at.is_(None)).group_by(Notice.user_id)
    people = db.scalars(
        select(User)
        .where(User.active.is_(True), User.email.is_not(None), User.id.in_(waiting))
        .order_by(User.id)
    ).all()
    messages = []
    for user in people:
        after = _through(db, user.id)
        fresh = select(Notice).where(
            Notice.user_id == user.id, Notice.read_at.is_(None), Notice.id > after
        )
        notices = list(db.scalars(fresh.order_by(Notice.id).limit(LISTED)))
        if not notices or not user.email:
            continue
        total = db.scalar(select(func.count()).select_from(fresh.subquery())) or 0
        count = len(notices)
        messages.append(
            outbox.OutgoingMessage(
                key=f"digest:{user.id}:{day.isoformat()}",
                customer_id=recipient_id(user.id),
                to_address=user.email,
                subject=f"winback: {total} unread notice{'s' if total != 1 else ''} for you",
                text=_text(user, notices, total - count, base_url),
                headers={THROUGH_HEADER: str(notices[-1].id)},
            )
        )
    report = outbox.enqueue(db, messages)
    return DigestReport(report.queued, report.duplicates, len(messages))
