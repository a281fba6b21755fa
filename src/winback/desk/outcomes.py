"""What a closed case counts as, and closed cases as rows of the ledger's
``winback_outcomes`` table, which the scan reads to learn win-back odds by segment.

*Won back* has one meaning (docs/desk.md, "Won back"): a person closed the case as
``won_back``, or winback sync closed it as ``returned`` after the desk had contacted the
customer (``case.contacted``). A return without contact is *returned unprompted*.
:func:`counted_outcome` and :func:`counted_outcome_sql` say it once, in Python and in SQL,
for the outcome export, the reasons report, the red carpet and the desk's pages.

Export is idempotent: each case has one outcome record (``desk-case-<id>``), written through
the ordinary importer (so it is checked against the data contract like any other file) and
marked with the ledger batch that holds it. A case whose export failed or waited on another
writer stays pending and goes out with the next export: after a case is closed on the desk,
at ``winback sync`` and before every ``winback scan``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from winback.desk.models import VERIFIED, Call, Case
from winback.errors import Conflict, WinbackError
from winback.ledger.contract import arrow_schema
from winback.ledger.store import Ledger

if TYPE_CHECKING:
    from winback.ledger.importer import ImportResult

WON_BACK = "won_back"
# Recorded by winback sync when the customer ordered again while the case was open.
RETURNED = "returned"
# What a return without contact counts as (the ledger's name for it too).
RETURNED_UNPROMPTED = "returned_unprompted"
_LEDGER_TIERS = ("executive", "rep", "campaign", "holdout")


@dataclass
class ExportResult:
    exported: int = 0
    pending: int = 0
    batch: int | None = None
    problem: str | None = None


def counted_outcome(outcome: str | None, contacted: bool) -> str | None:
    """The outcome as every count reads it: ``returned`` becomes ``won_back`` when the
    desk had contacted the customer, else ``returned_unprompted``; the rest stay as
    they are (None for an open case)."""
    if outcome == RETURNED:
        return WON_BACK if contacted else RETURNED_UNPROMPTED
    return outcome


def counted_outcome_sql() -> ColumnElement[str | None]:
    """:func:`counted_outcome` of ``cases.outcome`` and ``cases.contacted`` in SQL."""
    return sql_case(
        (and_(Case.outcome == RETURNED, Case.contacted.is_(True)), WON_BACK),
        (Case.outcome == RETURNED, RETURNED_UNPROMPTED),
        else_=Case.outcome,
    )


def is_won_back(c: Case) -> bool:
    """Whether the closed case ``c`` counts as won back (see the module docstring)."""
    return counted_outcome(c.outcome, c.contacted) == WON_BACK


def outcome_label(c: Case) -> str:
    """The case's outcome in words as the desk's pages show it ("" while open)."""
    counted = counted_outcome(c.outcome, c.contacted)
    if counted is None:
        return ""
    if c.outcome == RETURNED and counted == WON_BACK:
        return "won back (ordered again after contact)"
    return counted.replace("_", " ")


def ledger_outcome(c: Case) -> str:
    """The case's outcome as the ledger's ``winback_outcomes`` names it."""
    counted = counted_outcome(c.outcome, c.contacted)
    if counted is None:
        raise Conflict(f"case {c.id} is not closed: it has no outcome to export")
    return counted


def outcome_row(case: Case, call: Call | None) -> dict[str, Any]:
    verified = call is not None and call.verification in VERIFIED and call.reasons
    return {
        "outcome_id": f"desk-case-{case.id}",
        "customer_id": case.customer_id,
        "recorded_on": (case.closed_at or case.updated_at).date(),
        "outcome": ledger_outcome(case),
        "segment": case.segment,
        "tier": case.tier if case.tier in _LEDGER_TIERS else None,
        "offer": call.offer_kind if call is not None else None,
        "reason": call.reasons[0] if verified and call is not None else None,
        "contacted": bool(case.contacted),
        "value_before": _money(value_before(case)),
    }


def _money(value: float | None) -> Decimal | None:
    """A contract money value: exact cents, never below zero (returns can make last year's
    revenue negative)."""
    return None if value is None else Decimal(f"{max(0.0, value):.2f}")


def value_before(case: Case) -> float | None:
    """The yearly revenue at stake: measured when the case opened, else last year's."""
    return case.value_before if case.value_before is not None else case.revenue_last_year


# A closed case's ``outcome_batch`` when its outcome is recorded elsewhere: a held-out
# customer's case, closed at a campaign's launch (the campaign exports the holdout row).
NOT_EXPORTED = 0


def pending(db: Session) -> list[Case]:
    query = select(Case).where(
        Case.state == "closed", Case.outcome.is_not(None), Case.outcome_batch.is_(None)
    )
    return list(db.scalars(query.order_by(Case.id)))


def _latest_calls(db: Session, case_ids: list[int]) -> dict[int, Call]:
    latest: dict[int, Call] = {}
    for i in range(0, len(case_ids), 1000):
        chunk = case_ids[i : i + 1000]
        for call in db.scalars(select(Call).where(Call.case_id.in_(chunk)).order_by(Call.id)):
            latest[call.case_id] = call
    return latest


def import_outcome_rows(
    ledger: Ledger,
    rows: list[dict[str, Any]],
    rejects_dir: Path,
    prefix: str,
    *,
    wait_seconds: float,
    memory: str,
) -> ImportResult:
    """Import ``rows`` of winback_outcomes through the ordinary importer (so they are
    checked against the data contract like any file), from a staging file named after
    ``prefix`` that is removed afterwards. Raises what the importer raises (a busy ledger
    among them)."""
    from winback.ledger.importer import import_file

    staging = ledger.root / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"{prefix}-{secrets.token_hex(4)}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema("winback_outcomes")), path)
    try:
        return import_file(
            ledger,
            "winback_outcomes",
            path,
            rejects_dir=rejects_dir,
            fmt="parquet",
            memory=memory,
            wait_seconds=wait_seconds,
        )
    finally:
        path.unlink(missing_ok=True)


def export_outcomes(
    db: Session,
    ledger: Ledger,
    rejects_dir: Path,
    *,
    wait_seconds: float = 30.0,
    memory: str = "1GB",
) -> ExportResult:
    """Write every pending outcome to the ledger in one import. Never raises for a busy
    ledger: the cases stay pending and the next export takes them."""
    cases = pending(db)
    if not cases:
        return ExportResult()
    calls = _latest_calls(db, [c.id for c in cases])
    rows = [outcome_row(c, calls.get(c.id)) for c in cases]
    try:
        result = import_outcome_rows(
            ledger, rows, rejects_dir, "desk-outcomes", wait_seconds=wait_seconds, memory=memory
        )
    except WinbackError as exc:  # a busy ledger (LedgerBusyError) among them
        return ExportResult(pending=len(cases), problem=str(exc))
    batch = ledger.manifest().batches
    if result.rejected:
        # Rows are made valid by construction, so a reject is a bug: keep every case pending
        # (stored ones come back as duplicates next time) and say where the rejects are.
        problem = f"{result.rejected} outcome(s) rejected by the ledger; see {result.rejects_file}"
        return ExportResult(pending=len(cases), batch=batch, problem=problem)
    for case in cases:
        case.outcome_batch = batch
    db.commit()
    return ExportResult(exported=len(cases), batch=batch)
