"""The taxonomy of reasons customers leave: the codes a rep diagnoses with on a call and the
reasons report groups by. Managers and admins add, rename and retire reasons; a code never
changes once made, so past diagnoses keep their meaning."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.models import (
    ReasonCode,
    User,
)
from winback.desk.permissions import Action, require
from winback.errors import Conflict, InvalidInput, NotFound


def reason_codes(db: Session, *, active_only: bool = True) -> list[ReasonCode]:
    query = select(ReasonCode)
    if active_only:
        query = query.where(ReasonCode.active.is_(True))
    return list(db.scalars(query.order_by(ReasonCode.position, ReasonCode.id)))


def reason_labels(db: Session) -> dict[str, str]:
    """Every code's label, retired ones included (old calls still name them)."""
    return {r.code: r.label for r in reason_codes(db, active_only=False)}


def _code_of(text: str) -> str:
    code = "".join(c if c.isalnum() else "_" for c in text.strip().lower()).strip("_")
    while "__" in code:
        code = code.replace("__", "_")
    return code[:50]


def add_reason(db: Session, actor: User, label: str, code: str = "") -> ReasonCode:
    """Add a reason to the taxonomy (managers and admins)."""
    require(actor, Action.EDIT_REASONS)
    label = label.strip()
    if not label:
        raise InvalidInput("a reason needs a label, e.g. 'Slow support'", field="label")
    code = _code_of(code or label)
    if not code:
        raise InvalidInput(
            f"cannot make a code from {label!r}: give a code of letters or digits", field="code"
        )
    if db.scalar(select(ReasonCode.id).where(ReasonCode.code == code)) is not None:
        raise Conflict(f"the reason code {code!r} exists already (reactivate or rename it)")
    last = max((r.position for r in reason_codes(db, active_only=False)), default=-1)
    reason = ReasonCode(code=code, label=label[:200], active=True, position=last + 1)
    db.add(reason)
    db.flush()
    audit.record(
        db, actor, "reason.create", "reason", reason.id, None, {"code": code, "label": label}
    )
    db.commit()
    return reason


def update_reason(
    db: Session,
    actor: User,
    reason_id: int,
    *,
    label: str | None = None,
    active: bool | None = None,
) -> ReasonCode:
    """Rename a reason or retire/restore it. Codes never change: past calls refer to them."""
    require(actor, Action.EDIT_REASONS)
    reason = db.get(ReasonCode, reason_id)
    if reason is None:
        raise NotFound(f"no reason {reason_id}")
    before = {"label": reason.label, "active": reason.active}
    if label is not None:
        if not label.strip():
            raise InvalidInput("the label cannot be empty")
        reason.label = label.strip()[:200]
    if active is not None:
        reason.active = active
    audit.record(
        db,
        actor,
        "reason.update",
        "reason",
        reason.id,
        before,
        {"label": reason.label, "active": reason.active},
    )
    db.commit()
    return reason
