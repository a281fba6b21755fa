"""Closed cases become rows of the ledger's ``winback_outcomes`` table, which the scan reads
to learn win-back odds by segment.

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
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk.models import Call, Case
from winback.errors import WinbackError
from winback.ledger.contract import arrow_schema
from winback.ledger.store import Ledger

# How a desk outcome is named in the ledger (winback.ledger.contract.OUTCOMES).
_LEDGER_OUTCOME = {
    "won_back": "won_back",
    "will_return": "will_return",
    "declined": "declined",
    "unreachable": "unreachable",
    "not_pursued": "not_pursued",
}
_LEDGER_TIERS = ("executive", "rep", "campaign", "holdout")


@dataclass
class ExportResult:
    exported: int = 0
    pending: int = 0
    batch: int | None = None
    problem: str | None = None


def ledger_outcome(case: Case) -> str:
    """A case closed as "returned" by winback sync came back by itself unless someone had
    reached the customer first, in which case the desk's work counts as a win-back."""
    if case.outcome == "returned":
        return "won_back" if case.contacted else "returned_unprompted"
    return _LEDGER_OUTCOME[case.outcome or ""]


def outcome_row(case: Case, call: Call | None) -> dict[str, Any]:
    verified = call is not None and call.verification in ("yes", "partly") and call.reasons
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
    from winback.ledger.importer import import_file

    cases = pending(db)
    if not cases:
        return ExportResult()
    calls = _latest_calls(db, [c.id for c in cases])
    rows = [outcome_row(c, calls.get(c.id)) for c in cases]
    schema = arrow_schema("winback_outcomes")
    staging = ledger.root / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"desk-outcomes-{secrets.token_hex(4)}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    try:
        result = import_file(
            ledger,
            "winback_outcomes",
            path,
            rejects_dir=rejects_dir,
            fmt="parquet",
            memory=memory,
            wait_seconds=wait_seconds,
        )
    except WinbackError as exc:  # a busy ledger (LedgerBusyError) among them
        return ExportResult(pending=len(cases), problem=str(exc))
    finally:
        path.unlink(missing_ok=True)
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
