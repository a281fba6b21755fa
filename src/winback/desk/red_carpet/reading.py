"""Reading the red carpet: the flags on case rows, the list everyone sees, one
customer's period and its experiences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback.desk.models import (
    Experience,
    RedCarpet,
    User,
    utcnow,
)
from winback.desk.permissions import Action, require
from winback.desk.red_carpet.period import ENDED_SHOWN_DAYS, LIST_LIMIT, latest_for


def flags_for(db: Session, customer_ids: list[str]) -> dict[str, RedCarpet]:
    """The red carpets in progress of these customers, by customer id (one query)."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return {}
    query = select(RedCarpet).where(RedCarpet.ended_at.is_(None), RedCarpet.customer_id.in_(wanted))
    return {c.customer_id: c for c in db.scalars(query)}


@dataclass(frozen=True)
class ListRow:
    """One line of the red-carpet list."""

    carpet: RedCarpet
    owner_name: str | None
    experiences: int
    last_gesture: str | None
    last_at: datetime | None

    @property
    def active(self) -> bool:
        return self.carpet.ended_at is None


def red_carpet_list(
    db: Session, actor: User, *, ended_days: int = ENDED_SHOWN_DAYS
) -> list[ListRow]:
    """Everyone on the red carpet (newest first), then the periods that ended within
    ``ended_days`` days, with each one's experiences and last gesture. Three queries."""
    require(actor, Action.VIEW_RED_CARPET)
    cutoff = utcnow() - timedelta(days=ended_days)
    carpets = list(
        db.scalars(
            select(RedCarpet)
            .where(RedCarpet.ended_at.is_(None) | (RedCarpet.ended_at >= cutoff))
            .order_by(
                RedCarpet.ended_at.is_not(None), RedCarpet.started_at.desc(), RedCarpet.id.desc()
            )
            .limit(LIST_LIMIT)
        )
    )
    stats = gestures_of(db, [c.id for c in carpets])
    owner_ids = {c.owner_id for c in carpets if c.owner_id is not None}
    names = (
        {u.id: u.name for u in db.scalars(select(User).where(User.id.in_(owner_ids)))}
        if owner_ids
        else {}
    )
    return [
        ListRow(
            carpet=c,
            owner_name=names.get(c.owner_id) if c.owner_id is not None else None,
            experiences=stats.get(c.id, (0, None, None))[0],
            last_gesture=stats.get(c.id, (0, None, None))[1],
            last_at=stats.get(c.id, (0, None, None))[2],
        )
        for c in carpets
    ]


def gestures_of(
    db: Session, carpet_ids: list[int]
) -> dict[int, tuple[int, str | None, datetime | None]]:
    """Each period's count of experiences and its last gesture and when (two queries)."""
    if not carpet_ids:
        return {}
    stats = {
        rid: (int(n), int(newest))
        for rid, n, newest in db.execute(
            select(Experience.red_carpet_id, func.count(), func.max(Experience.id))
            .where(Experience.red_carpet_id.in_(carpet_ids))
            .group_by(Experience.red_carpet_id)
        )
    }
    last: dict[int, tuple[str, datetime]] = {}
    newest_ids = [newest for _, newest in stats.values()]
    if newest_ids:
        last = {
            rid: (gesture, at)
            for rid, gesture, at in db.execute(
                select(Experience.red_carpet_id, Experience.gesture, Experience.occurred_at).where(
                    Experience.id.in_(newest_ids)
                )
            )
        }
    out: dict[int, tuple[int, str | None, datetime | None]] = {}
    for rid, (n, _) in stats.items():
        gesture, at = last.get(rid, (None, None))
        out[rid] = (n, gesture, at)
    return out


def experiences_of(db: Session, carpet_id: int) -> list[Experience]:
    """A period's experiences, newest first."""
    query = select(Experience).where(Experience.red_carpet_id == carpet_id)
    return list(db.scalars(query.order_by(Experience.occurred_at.desc(), Experience.id.desc())))


@dataclass(frozen=True)
class CustomerRedCarpet:
    """What the customer page shows: the period in progress (or the last one) and its
    experiences."""

    carpet: RedCarpet
    owner_name: str | None
    experiences: list[Experience]

    @property
    def active(self) -> bool:
        return self.carpet.ended_at is None


def of_customer(db: Session, actor: User, customer_id: str) -> CustomerRedCarpet | None:
    return shown(db, actor, latest_for(db, customer_id))


def shown(db: Session, actor: User, carpet: RedCarpet | None) -> CustomerRedCarpet | None:
    """``carpet`` (a customer's latest, read already) as the customer page shows it."""
    require(actor, Action.VIEW_RED_CARPET)
    if carpet is None:
        return None
    owner = db.get(User, carpet.owner_id) if carpet.owner_id is not None else None
    return CustomerRedCarpet(carpet, owner.name if owner else None, experiences_of(db, carpet.id))
