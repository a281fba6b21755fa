"""A case opened by hand: a customer calls in, the rep finds them (winback.desk.search) and
opens a case for them, with a reason from the taxonomy and a note.

The case goes to the rep who opened it, at the top of their queue (priority 0). It takes
the scan's view of the customer when the latest run holds them (as ``winback sync``
would), else the ledger's name with the status ``inbound``. Refused for a customer
already on an open case (the answer names it), or do-not-contact. Of parallel opens for one
customer (a double-click) exactly one opens the case: the desk's write lock and the unique
index of open cases decide, and the others are told the case that stands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.cases import opened_audit
from winback.desk.customer360 import scan_row
from winback.desk.db import write_lock
from winback.desk.do_not_contact import is_blocked
from winback.desk.models import Case, CaseActivity, ReasonCode, User, utcnow
from winback.desk.permissions import Action, may_hold_work, require
from winback.desk.scan_fields import case_fields
from winback.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.ledger.timeline import TimelineReader
from winback.scan.runs import ScanRun

INBOUND_STATUS = "inbound"  # a customer the latest scan did not list
MAX_NOTE = 5000


class OpenCaseExists(Conflict):
    """The customer has an open case already: ``case_id``."""

    def __init__(self, customer_id: str, case_id: int) -> None:
        super().__init__(
            f"customer {customer_id} has an open case already: case {case_id} "
            f"(/customers/{customer_id}); work that one"
        )
        self.customer_id = customer_id
        self.case_id = case_id


def open_case_id(db: Session, customer_id: str) -> int | None:
    found: int | None = db.scalar(
        select(Case.id).where(Case.customer_id == customer_id, Case.state != "closed")
    )
    return found


def _reason(db: Session, code: str) -> ReasonCode:
    code = (code or "").strip()
    reasons = db.scalars(select(ReasonCode).where(ReasonCode.active.is_(True))).all()
    for reason in reasons:
        if reason.code == code:
            return reason
    choices = ", ".join(r.code for r in reasons)
    raise InvalidInput(f"reason {code!r}: choose one of the taxonomy's reasons ({choices})")


def _fields(
    customer_id: str,
    run: ScanRun | None,
    ledger: Ledger | None,
    timeline: TimelineReader | None,
) -> dict[str, Any]:
    """The case's fields from the scan run's row, else from the ledger's customer."""
    row = scan_row(run, customer_id)
    if row is not None:
        fields = case_fields(row)
        fields["run_id"] = run.info.run_id if run else ""
        return fields
    profile, _ = reads.customer_timeline(ledger, customer_id, timeline, limit=1)
    if profile is None:
        raise NotFound(
            f"no customer {customer_id!r} in the ledger or the latest scan: search for them "
            "by name, e-mail or phone and open the case from their page"
        )
    return {
        "customer_name": profile.get("name"),
        "segment": profile.get("segment"),
        "customer_status": INBOUND_STATUS,
        "reasons": [],
        "decision_reasons": [],
        "intangibles": {},
        "run_id": "",
        # The order the case knows of: a later one closes it as returned (sync).
        "last_order_date": reads.last_orders(ledger, [customer_id]).get(customer_id),
    }


def open_by_hand(
    db: Session,
    actor: User,
    customer_id: str,
    *,
    reason: str,
    note: str = "",
    run: ScanRun | None,
    ledger: Ledger | None,
    timeline: TimelineReader | None = None,
) -> Case:
    """Open a case for ``customer_id`` now, owned by ``actor``, for ``reason`` (a reason
    code of the taxonomy) with ``note``; audited. Commits."""
    require(actor, Action.OPEN_CASE)
    if not may_hold_work(actor):
        raise PermissionDenied(f"a {actor.role} holds no cases; a rep or manager opens it")
    customer_id = str(customer_id).strip()
    if not customer_id or len(customer_id) > 100:
        raise InvalidInput(f"customer id {customer_id!r}: give the customer's id (1-100 chars)")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: {len(note)} characters; keep it to {MAX_NOTE}")
    picked = _reason(db, reason)
    existing = open_case_id(db, customer_id)
    if existing is not None:  # before the scan run is read: a double-click's usual end
        raise OpenCaseExists(customer_id, existing)
    fields = _fields(customer_id, run, ledger, timeline)
    write_lock(db)
    existing = open_case_id(db, customer_id)
    if existing is not None:
        raise OpenCaseExists(customer_id, existing)
    if is_blocked(db, customer_id):
        raise Conflict(
            f"customer {customer_id} is do-not-contact: no case may be opened for them "
            "(a manager can lift it on their page)"
        )
    now = utcnow()
    fields["reasons"] = [f"called in: {picked.label}", *fields["reasons"]]
    case = Case(
        customer_id=customer_id,
        state="open",
        contacted=False,
        owner_id=actor.id,
        reasons_text="\n".join(fields["reasons"]).lower(),
        value_before=fields.get("revenue_last_year"),
        opened_at=now,
        updated_at=now,
        **{**fields, "priority": 0},
    )
    try:
        with db.begin_nested():
            db.add(case)
            db.flush()
    except IntegrityError:  # a parallel open (a double-click) made the case first
        db.rollback()
        standing = open_case_id(db, customer_id)
        if standing is None:
            raise Conflict(f"customer {customer_id}'s cases changed meanwhile; try again") from None
        raise OpenCaseExists(customer_id, standing) from None
    text = f"Called in: {picked.label}" + (f"\n{note}" if note else "")
    db.add(CaseActivity(case_id=case.id, user_id=actor.id, kind="note", text=text))
    audit.record(
        db,
        actor,
        "case.open",
        "case",
        case.id,
        None,
        opened_audit(
            case, "opened by hand for a customer who called in", reason=picked.code, note=note
        ),
    )
    db.commit()
    return case
