"""Do-not-contact: customers that no win-back case, call or campaign may reach.

A person on the desk sets the flag (the customer asked), a customer sets it through an
e-mail's unsubscribe link, or an import does. While it stands, sync opens no case for the
customer, the desk refuses to start a call or log a contact, and campaigns leave them out.
Lifting it is for managers, and the row stays (``lifted_at``), so the history is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.models import CONTACT_BLOCK_SOURCES, ContactBlock, User, utcnow
from winback.desk.permissions import Action, require
from winback.errors import Conflict, InvalidInput

# Checking many customers at once: ids per IN (...) list (SQLite's parameter limit).
_CHUNK = 900


def _check_id(customer_id: str) -> str:
    customer_id = str(customer_id).strip()
    if not customer_id or len(customer_id) > 100:
        raise InvalidInput(
            f"customer id {customer_id!r}: give the customer's id (1-100 characters)"
        )
    return customer_id


def block(
    db: Session,
    actor: User | None,
    customer_id: str,
    *,
    source: str = "desk",
    note: str = "",
) -> ContactBlock:
    """Mark ``customer_id`` do-not-contact (``actor`` None: the customer or an import did).

    Idempotent: a customer already blocked stays blocked, with the first block's source; a
    lifted block stands again. Safe against a parallel call for the same customer (the
    primary key decides, the loser reads the winner's row). Commits.
    """
    if actor is not None:
        require(actor, Action.BLOCK_CONTACT)
    if source not in CONTACT_BLOCK_SOURCES:
        raise InvalidInput(f"source {source!r}: give one of {', '.join(CONTACT_BLOCK_SOURCES)}")
    customer_id = _check_id(customer_id)
    row = db.get(ContactBlock, customer_id, with_for_update=True)
    if row is not None and row.lifted_at is None:
        return row
    if row is None:
        row = ContactBlock(
            customer_id=customer_id,
            source=source,
            note=note[:2000],
            created_by=actor.id if actor else None,
            created_at=utcnow(),
        )
        db.add(row)
    else:
        row.source, row.note = source, note[:2000]
        row.created_by, row.created_at = (actor.id if actor else None), utcnow()
        row.lifted_at = row.lifted_by = None
    audit.record(
        db,
        actor,
        "do_not_contact",
        "customer",
        customer_id,
        None,
        {"source": source, "note": note[:2000]},
        system_name=source,
    )
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        existing = db.get(ContactBlock, customer_id)
        if existing is None:
            raise
        return existing
    return row


def lift(db: Session, actor: User, customer_id: str, *, note: str = "") -> ContactBlock | None:
    """Lift ``customer_id``'s do-not-contact (managers; the row stays, marked lifted).
    Commits. A customer not blocked (never, or lifted already: a double-click) changes
    nothing and gives None."""
    require(actor, Action.LIFT_CONTACT_BLOCK)
    customer_id = _check_id(customer_id)
    row = db.get(ContactBlock, customer_id, with_for_update=True)
    if row is None or row.lifted_at is not None:
        db.rollback()
        return None
    row.lifted_at, row.lifted_by = utcnow(), actor.id
    audit.record(
        db,
        actor,
        "contact_allowed",
        "customer",
        customer_id,
        {"source": row.source},
        {"note": note},
    )
    db.commit()
    return row


def refuse_if_blocked(db: Session, customer_id: str, doing: str) -> None:
    """Raise Conflict when ``customer_id`` is do-not-contact: ``doing`` (e.g. "a call")
    is refused, saying since when and who can lift the flag."""
    row = current(db, customer_id)
    if row is not None:
        raise Conflict(
            f"customer {customer_id} is do-not-contact (since {row.created_at:%Y-%m-%d}, "
            f"set by {_SET_BY[row.source]}): {doing} is refused; only a manager can lift "
            "the flag, on the customer's page"
        )


_SET_BY = {"desk": "the desk", "unsubscribe": "the customer's unsubscribe", "import": "an import"}


def active_blocks() -> Select[Any]:
    """The blocked customers' ids, as a subquery for ``Case.customer_id.not_in(...)``."""
    return select(ContactBlock.customer_id).where(ContactBlock.lifted_at.is_(None))


def current(db: Session, customer_id: str) -> ContactBlock | None:
    """``customer_id``'s do-not-contact flag while it stands, else None."""
    row = db.get(ContactBlock, str(customer_id))
    return row if row is not None and row.lifted_at is None else None


def is_blocked(db: Session, customer_id: str) -> bool:
    return current(db, customer_id) is not None


def blocked_among(db: Session, customer_ids: Iterable[str]) -> set[str]:
    """Which of ``customer_ids`` are do-not-contact now."""
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(db.scalars(active_blocks().where(ContactBlock.customer_id.in_(chunk))))
    return found
